"""The Databricks sync on the emulator (read through the worker's gateway) and the real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.drift.sync import DatabricksObjectsSync
from shared.provisioning.clients import WorkspaceClients
from tests.integration.provisioning.conftest import clients  # noqa: F401 (fixture)


@pytest.fixture
def sync(session_factory: sessionmaker[Session], clients: WorkspaceClients) -> DatabricksObjectsSync:  # noqa: F811
    return DatabricksObjectsSync(session_factory, reader_for=clients.gateway, performed_by="test-sync")


@pytest.fixture
def workspace(emulator: EmulatorControl) -> str:
    return emulator.url
