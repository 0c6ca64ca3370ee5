"""A gateway on the emulator (fixtures from tests.support.emulator), built the way the worker builds it."""

from __future__ import annotations

import pytest

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from shared.platform.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.gateway import DatabricksGateway
from tests.support.emulator import clear_databricks_env

#: Short, so that an exhausted 429 budget ends a test quickly.
RETRY_TIMEOUT_SECONDS = 3


@pytest.fixture
def clients(emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClients:
    """Return the worker's client factory with a token for the emulator."""
    clear_databricks_env(monkeypatch)
    return WorkspaceClients(
        DatabricksCredentials(token=DEFAULT_TOKEN),
        retry_timeout_seconds=RETRY_TIMEOUT_SECONDS,
        http_timeout_seconds=30,
    )


@pytest.fixture
def gateway(clients: WorkspaceClients, emulator: EmulatorControl) -> DatabricksGateway:
    """Return a gateway on the emulated workspace."""
    return clients.gateway(emulator.url)
