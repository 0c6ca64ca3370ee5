"""`sharepack validate FILE --workspace URL`: the service's dry run over real HTTP (the app served by werkzeug)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from api import create_app
from emulator.control import EmulatorControl
from shared.health import HealthReport
from shared.provisioning.clients import WorkspaceClients
from shared.share_pack_file.cli import EXIT_INVALID, EXIT_UNUSABLE, EXIT_VALID, main
from tests.integration.api.conftest import API_KEY, RecordingPublisher, make_settings
from tests.integration.preflight.conftest import EXAMPLE_TABLES, sample

pytestmark = pytest.mark.integration


@pytest.fixture
def served_api(session_factory, clients: WorkspaceClients, emulator: EmulatorControl) -> Iterator[str]:
    app = create_app(
        make_settings(dev_workspace_urls=emulator.url),
        session_factory=session_factory,
        publisher=RecordingPublisher(),
        health_check=lambda: HealthReport(False, False, 0, ("not used",)),
        reader_for=clients.gateway,
    )
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_bytes(sample())
    return path


def run_cli(args: list[str], served_api: str, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", API_KEY)
    code = main(args)
    return code, capsys.readouterr().out


def test_a_pack_the_workspace_can_take_prints_its_plan(served_api, pack_file, emulator, monkeypatch, capsys):
    emulator.seed_tables(EXAMPLE_TABLES)

    code, out = run_cli(["validate", str(pack_file), "--workspace", emulator.url], served_api, monkeypatch, capsys)

    assert code == EXIT_VALID, out
    assert "plan:" in out and "2 recipients created" in out and "5 tables added" in out


def test_a_missing_table_is_an_error(served_api, pack_file, emulator, monkeypatch, capsys):
    emulator.seed_tables(EXAMPLE_TABLES[:-1])

    code, out = run_cli(
        ["validate", str(pack_file), "--workspace", emulator.url, "--json"], served_api, monkeypatch, capsys
    )

    assert code == EXIT_INVALID
    answer = json.loads(out)
    assert any(EXAMPLE_TABLES[-1] in e["message"] for e in answer["ValidationErrors"])


def test_a_refused_key_is_reported(served_api, pack_file, emulator, monkeypatch, capsys):
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", "wrong-key-0000")

    code = main(["validate", str(pack_file), "--workspace", emulator.url])

    assert code == EXIT_UNUSABLE
    assert "401" in capsys.readouterr().err
