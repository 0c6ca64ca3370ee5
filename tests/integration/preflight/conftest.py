"""The API with read access to the emulated workspace (the pre-flight's `reader_for`), on the real database."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from ruamel.yaml import YAML

from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES
from shared.provisioning.clients import WorkspaceClients
from tests.integration.api.conftest import (  # noqa: F401 (fixtures)
    API_KEY,
    app_factory,
    make_settings,
    publisher,
    queue,
)
from tests.integration.provisioning.conftest import clients  # noqa: F401 (fixture)
from tests.support.access import register_tenant

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
#: The tables the example pack shares.
EXAMPLE_TABLES = list(DEMO_TABLES)


def sample() -> bytes:
    return (EXAMPLES / "sample_sharepack.yaml").read_bytes()


def load(content: bytes) -> dict[str, Any]:
    return YAML(typ="safe").load(content)


def dump(pack: dict[str, Any]) -> bytes:
    out = io.StringIO()
    YAML(typ="safe").dump(pack, out)
    return out.getvalue().encode()


def edited(change: Callable[[dict[str, Any]], None]) -> bytes:
    """The example pack with ``change`` applied to its data."""
    pack = load(sample())
    change(pack)
    return dump(pack)


def post_file(client: FlaskClient, route: str, headers: dict[str, str], content: bytes) -> Any:
    return client.post(
        f"/workflow/sharepack/{route}",
        data={"file": (io.BytesIO(content), "pack.yaml")},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def api(
    app_factory: Callable[..., FlaskClient],  # noqa: F811
    clients: WorkspaceClients,  # noqa: F811
    emulator: EmulatorControl,
    queue: Any,  # noqa: F811
) -> Callable[..., FlaskClient]:
    """`build(**settings)`: a test client whose workspace is the emulator, readable through `clients`."""

    def build(**overrides: str) -> FlaskClient:
        settings = make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url, **overrides)
        return app_factory(settings, reader_for=clients.gateway)

    return build


@pytest.fixture(autouse=True)
def emulated_tenant(session_factory: Any, emulator: EmulatorControl) -> None:
    """The example pack's business line, registered with the emulated workspace (uploads need a registered tenant)."""
    register_tenant(session_factory, {"EMEA": emulator.url})


@pytest.fixture
def headers(emulator: EmulatorControl) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": emulator.url}
