"""Pytest fixtures for the Databricks workspace emulator: one server per session, clean state per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.environments import ARM_DATABRICKS_RESOURCE_ID, AzureEnvironment, Cloud, DatabricksEnvironment

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import RunningEmulator, start_emulator

# Short enough that an exhausted 429 budget ends a test quickly, long enough for a few retries.
SDK_RETRY_TIMEOUT_SECONDS = 10


#: The Entra tenant the Azure service-principal tests authenticate against (any id works with the emulator).
AZURE_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def local_azure_environment(url: str) -> DatabricksEnvironment:
    """An Azure environment whose AAD endpoint is the emulator, so the SDK's service-principal login
    (https://learn.microsoft.com/azure/databricks/dev-tools/auth/azure-sp) runs against it
    instead of login.microsoftonline.com."""
    return DatabricksEnvironment(
        Cloud.AZURE,
        ".azuredatabricks.net",
        azure_application_id=ARM_DATABRICKS_RESOURCE_ID,
        azure_environment=AzureEnvironment(
            name="LOCAL",
            service_management_endpoint="https://management.core.windows.net/",
            resource_manager_endpoint=f"{url}/arm/",
            active_directory_endpoint=f"{url}/aad/",
        ),
    )


@pytest.fixture(scope="session")
def workspace_emulator() -> Iterator[RunningEmulator]:
    """Run one emulated workspace for the whole session (reset per test by ``emulator``)."""
    with start_emulator() as running:
        yield running


@pytest.fixture
def emulator(workspace_emulator: RunningEmulator) -> EmulatorControl:
    """Return the hooks client of a freshly reset emulator (no objects, faults, latency or log)."""
    control = EmulatorControl(workspace_emulator.url)
    control.reset()
    return control


def clear_databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop DATABRICKS_*/ARM_* variables so the SDK's unified auth sees only what a test passes."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_")):
            monkeypatch.delenv(name)


@pytest.fixture
def workspace_client(emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    """Return a real databricks-sdk client talking PAT to the emulator."""
    clear_databricks_env(monkeypatch)
    config = Config(
        host=emulator.url,
        token=DEFAULT_TOKEN,
        auth_type="pat",
        retry_timeout_seconds=SDK_RETRY_TIMEOUT_SECONDS,
        http_timeout_seconds=30,
    )
    return WorkspaceClient(config=config)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., RunningEmulator]]:
    """Start extra emulators (a second workspace, a state file, a latency) that stop after the test.

    Takes the keyword arguments of :func:`dev.emulator.server.start_emulator`.
    """
    started: list[RunningEmulator] = []

    def start(**kwargs: Any) -> RunningEmulator:
        running = start_emulator(**kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
