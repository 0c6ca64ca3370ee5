"""Azure service-principal auth against the emulator's AAD token endpoint
(https://learn.microsoft.com/azure/databricks/dev-tools/auth/azure-sp)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from dev.emulator.auth import Authenticator
from dev.emulator.control import EmulatorControl
from dev.emulator.server import RunningEmulator, start_emulator
from tests.support.emulator import AZURE_TENANT, clear_databricks_env, local_azure_environment


@pytest.fixture
def sp_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    clear_databricks_env(monkeypatch)
    with start_emulator(authenticator=Authenticator(service_principals={"sp-client-id": "sp-secret"})) as running:
        yield running


def _sp_client(url: str, secret: str) -> WorkspaceClient:
    return WorkspaceClient(
        config=Config(
            host=url,
            azure_client_id="sp-client-id",
            azure_client_secret=secret,
            azure_tenant_id=AZURE_TENANT,
            databricks_environment=local_azure_environment(url),
            retry_timeout_seconds=5,
        )
    )


def test_service_principal_gets_tokens_and_calls_the_api(sp_emulator: RunningEmulator) -> None:
    control = EmulatorControl(sp_emulator.url)
    client = _sp_client(sp_emulator.url, "sp-secret")

    share = client.shares.create(name="sales")

    assert client.config.auth_type == "azure-client-secret"
    assert share.created_by == "sp-client-id"
    [call] = control.requests(path_contains="/shares")
    assert call["principal"] == "sp-client-id"
    assert call["headers"]["authorization"] == "<redacted>"
    assert call["headers"]["x-databricks-azure-sp-management-token"] == "<redacted>"
    token_requests = control.requests(method="POST", path_contains=f"/aad/{AZURE_TENANT}/oauth2/token")
    assert len(token_requests) == 2
    assert all(r["status"] == 200 and r["body"] is None for r in token_requests)  # secrets are not logged


def test_wrong_client_secret_is_refused_by_aad(sp_emulator: RunningEmulator) -> None:
    client = _sp_client(sp_emulator.url, "wrong")
    with pytest.raises(ValueError, match="invalid_client"):
        client.shares.create(name="sales")


def test_default_emulator_accepts_any_service_principal(
    emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_databricks_env(monkeypatch)
    assert _sp_client(emulator.url, "anything").metastores.current().metastore_id
