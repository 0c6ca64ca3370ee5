"""Credentials and workspace client settings (no network: building clients is an integration test)."""

from __future__ import annotations

import pytest

from shared.platform.credentials import DatabricksCredentials
from shared.platform.errors import ConfigurationError
from shared.platform.settings import normalize_workspace_url
from shared.provisioning.clients import WorkspaceClients


def test_a_token_pins_pat_auth() -> None:
    assert DatabricksCredentials(token="dapi123").config_kwargs() == {"token": "dapi123", "auth_type": "pat"}


def test_a_service_principal_pins_azure_client_secret_auth() -> None:
    credentials = DatabricksCredentials(azure_client_id="id", azure_client_secret="s", azure_tenant_id="t")
    assert credentials.config_kwargs() == {
        "azure_client_id": "id",
        "azure_client_secret": "s",
        "azure_tenant_id": "t",
        "auth_type": "azure-client-secret",
    }


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"azure_client_id": "id"}, {"token": "t", "azure_client_id": "id", "azure_client_secret": "s"}],
)
def test_credentials_need_exactly_one_method(kwargs) -> None:
    with pytest.raises(ConfigurationError):
        DatabricksCredentials(**kwargs)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(DatabricksCredentials(token="dapi-secret")) + repr(
        DatabricksCredentials(azure_client_id="id", azure_client_secret="sp-secret")
    )
    assert "dapi-secret" not in text and "sp-secret" not in text


def test_workspace_urls_have_one_spelling() -> None:
    assert normalize_workspace_url("ADB-1.2.AzureDatabricks.net/") == "https://adb-1.2.azuredatabricks.net"
    assert normalize_workspace_url("http://127.0.0.1:8001/ws/a/") == "http://127.0.0.1:8001/ws/a"


def test_per_workspace_credentials_override_the_default() -> None:
    default = DatabricksCredentials(token="default")
    special = DatabricksCredentials(token="special")
    clients = WorkspaceClients(default, per_workspace={"https://adb-2.azuredatabricks.net/": special})

    assert clients.credentials_for("adb-2.azuredatabricks.net") is special
    assert clients.credentials_for("https://adb-1.azuredatabricks.net") is default


def test_a_workspace_without_credentials_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="No Databricks credentials"):
        WorkspaceClients().credentials_for("https://adb-1.azuredatabricks.net")


def test_one_call_bound_per_workspace() -> None:
    clients = WorkspaceClients(DatabricksCredentials(token="t"), concurrency=3)
    assert clients.slots("https://a.example") is clients.slots("https://A.example/")
    assert clients.slots("https://a.example") is not clients.slots("https://b.example")
