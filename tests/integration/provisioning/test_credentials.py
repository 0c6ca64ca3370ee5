"""Azure service-principal credentials through the worker's client factory
(https://learn.microsoft.com/azure/databricks/dev-tools/auth/azure-sp)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.emulator.auth import Authenticator
from dev.emulator.server import RunningEmulator, start_emulator
from shared.platform.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.diff import make_plan
from shared.provisioning.errors import PermanentProvisioningError
from shared.share_pack_file.model import Strategy
from tests.support.builders import d2o, pack
from tests.support.emulator import AZURE_TENANT, clear_databricks_env, local_azure_environment


@pytest.fixture
def sp_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    clear_databricks_env(monkeypatch)
    monkeypatch.setenv("DATABRICKS_TOKEN", "a-stray-token-that-must-not-clash")
    with start_emulator(authenticator=Authenticator(service_principals={"sp-client-id": "sp-secret"})) as running:
        yield running


def sp_credentials(url: str, secret: str) -> DatabricksCredentials:
    return DatabricksCredentials(
        azure_client_id="sp-client-id",
        azure_client_secret=secret,
        azure_tenant_id=AZURE_TENANT,
        environment=local_azure_environment(url),
    )


def test_a_service_principal_provisions_per_workspace(sp_emulator: RunningEmulator) -> None:
    clients = WorkspaceClients(
        DatabricksCredentials(token="wrong-default"),
        per_workspace={sp_emulator.url: sp_credentials(sp_emulator.url, "sp-secret")},
        retry_timeout_seconds=5,
    )
    gateway = clients.gateway(sp_emulator.url)
    share_pack = pack(Strategy.NEW, recipients=[d2o("acme")])

    plan = make_plan(share_pack, gateway.read_state(share_pack))
    gateway.create_recipient(plan.changes[0].recipient())

    assert gateway.get_recipient("acme").authentication_type == "TOKEN"


def test_a_rejected_service_principal_secret_is_reported(sp_emulator: RunningEmulator) -> None:
    clients = WorkspaceClients(sp_credentials(sp_emulator.url, "wrong-secret"), retry_timeout_seconds=5)
    with pytest.raises((PermanentProvisioningError, ValueError)):
        clients.gateway(sp_emulator.url).get_recipient("acme")
