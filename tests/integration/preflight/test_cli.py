"""`sharepack validate FILE --workspace URL` and `sharepack submit`: the service over real HTTP (the app served
by werkzeug, no worker: `tests/e2e/test_cli_submit.py` follows packs to their end)."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from api import create_app
from api.context import Services
from dev.emulator.control import EmulatorControl
from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.models import SharePack
from shared.models.history import History
from shared.platform.health import HealthReport
from shared.platform.settings import Settings
from shared.provisioning.clients import WorkspaceClients
from shared.share_pack_file.cli import EXIT_INVALID, EXIT_NOT_FINAL, EXIT_UNUSABLE, EXIT_VALID, main, version
from tests.integration.api.conftest import API_KEY, RecordingPublisher, make_settings
from tests.integration.preflight.conftest import EXAMPLE_TABLES, sample

#: alice configures Finance (`approval_gate`); the tests that do not set the gate up call as the admin.
CONFIGURATOR_KEY = "alice-secret-key-0123456789abcdef0123"


@pytest.fixture
def settings(emulator: EmulatorControl) -> Settings:
    return make_settings(dev_workspace_urls=emulator.url,
                         api_keys=f"tester={API_KEY},alice@example.com={CONFIGURATOR_KEY}")


@pytest.fixture
def served_api(session_factory, clients: WorkspaceClients, emulator: EmulatorControl, settings) -> Iterator[str]:
    app = create_app(
        Services(
            settings,
            session_factory=session_factory,
            publisher=RecordingPublisher(),
            health_check=lambda: HealthReport(False, False, 0, ("not used",)),
            reader_for=clients.gateway,
        ),
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


def printed_json(out: str) -> dict:
    """The CLI's JSON object, apart from the served API's own log lines (same process, same stdout)."""
    lines = out.splitlines()
    return json.loads("\n".join(lines[lines.index("{"):]))


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
    answer = printed_json(out)
    assert answer["command"] == "validate" and answer["valid"] is False and answer["workspace"] == emulator.url
    assert any(EXAMPLE_TABLES[-1] in e["message"] for e in answer["errors"])


def test_a_refused_key_is_reported(served_api, pack_file, emulator, monkeypatch, capsys):
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", "wrong-key-0000")

    code = main(["validate", str(pack_file), "--workspace", emulator.url])

    assert code == EXIT_UNUSABLE
    assert "401" in capsys.readouterr().err


def test_submit_uploads_and_exits_0_once_accepted(served_api, pack_file, emulator, session_factory, monkeypatch,
                                                  capsys):
    emulator.seed_tables(EXAMPLE_TABLES)

    code, out = run_cli(["submit", str(pack_file), "--workspace", emulator.url, "--json"], served_api, monkeypatch,
                        capsys)

    report = printed_json(out)
    assert code == EXIT_VALID, report
    assert report["accepted"] is True and report["status"] == "IN_PROGRESS" and report["errors"] == []
    with session_factory() as session:
        stored = History(session, SharePack).get_current(uuid.UUID(report["share_pack_id"]))
    assert stored.share_pack_name == report["share_pack_name"] and stored.workspace_url == emulator.url


def test_follow_without_a_worker_stops_at_the_timeout_with_exit_3(served_api, pack_file, emulator, monkeypatch,
                                                                  capsys):
    emulator.seed_tables(EXAMPLE_TABLES)

    code, out = run_cli(
        ["submit", str(pack_file), "--workspace", emulator.url, "--follow", "--timeout", "0.3", "--interval", "0.1"],
        served_api, monkeypatch, capsys,
    )

    assert code == EXIT_NOT_FINAL, out
    assert "not final yet: IN_PROGRESS" in out.splitlines()[-1]


def test_submit_of_a_file_with_errors_exits_1_and_sends_nothing(served_api, tmp_path, emulator, session_factory,
                                                                monkeypatch, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(sample().replace(b"email: data-team@acme.example.com", b"email: nope"))

    code, out = run_cli(["submit", str(broken), "--workspace", emulator.url, "--json"], served_api, monkeypatch,
                        capsys)

    report = printed_json(out)
    assert code == EXIT_INVALID
    assert report["accepted"] is False and report["share_pack_id"] is None
    assert [e["path"] for e in report["errors"]] == ["recipient[0].email"]
    with session_factory() as session:
        assert session.query(SharePack).count() == 0


def test_submit_with_a_refused_key_exits_2(served_api, pack_file, emulator, monkeypatch, capsys):
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", "wrong-key-0000")

    code = main(["submit", str(pack_file), "--workspace", emulator.url, "--follow"])

    assert code == EXIT_UNUSABLE
    assert "401" in capsys.readouterr().err


def test_version_is_the_installed_distribution_s(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sharepack {version()}" and version() != "unknown"


@pytest.fixture
def approval_gate(settings, session_factory, emulator) -> Settings:
    """Finance on the emulator holds packs with an external recipient for an approver; alice configures it."""
    admin = Access(Principal.from_api_key("tester", admins=frozenset({"tester"})), frozenset())
    put_local_group(session_factory, admin, "fin-conf", ["alice@example.com"])
    put_local_group(session_factory, admin, "fin-appr", ["bob@example.com"])
    put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec(
            "Finance",
            workspaces={"EMEA": emulator.url},
            configurator_groups=["fin-conf"],
            approval_required="external",
        ),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Partner analytics", approver_groups=["fin-appr"], configurator_groups=[]),
    )
    return settings


def test_no_wait_approval_stops_at_pending_approval_with_exit_3(
    served_api, tmp_path, emulator, approval_gate, monkeypatch, capsys
):
    emulator.seed_tables(EXAMPLE_TABLES)
    pack_file = tmp_path / "alice.yaml"
    pack_file.write_bytes(sample().replace(b"jane.doe@example.com", b"alice@example.com"))
    monkeypatch.setenv("SHAREPACK_API_URL", served_api)
    monkeypatch.setenv("SHAREPACK_API_KEY", CONFIGURATOR_KEY)

    code = main(["submit", str(pack_file), "--workspace", emulator.url, "--follow", "--no-wait-approval"])

    out = capsys.readouterr().out
    assert code == EXIT_NOT_FINAL, out
    assert "PENDING_APPROVAL: waiting for an approver of the project" in out
    assert "not final yet: PENDING_APPROVAL" in out.splitlines()[-1]


def test_a_pack_the_service_refuses_exits_1_with_the_service_s_errors(served_api, pack_file, emulator, monkeypatch,
                                                                      capsys):
    emulator.seed_tables(EXAMPLE_TABLES[:-1])  # valid as a file, but a table is missing from the workspace

    code, out = run_cli(["submit", str(pack_file), "--workspace", emulator.url, "--follow", "--json"], served_api,
                        monkeypatch, capsys)

    report = printed_json(out)
    assert code == EXIT_INVALID, report
    assert report["accepted"] is False and report["share_pack_id"] is None and report["status"] is None
    assert any(EXAMPLE_TABLES[-1] in e["message"] for e in report["errors"])


def test_follow_picks_up_a_submitted_pack(served_api, pack_file, emulator, monkeypatch, capsys):
    emulator.seed_tables(EXAMPLE_TABLES)
    code, out = run_cli(["submit", str(pack_file), "--workspace", emulator.url, "--json"], served_api, monkeypatch,
                        capsys)
    share_pack_id = printed_json(out)["share_pack_id"]

    code, out = run_cli(["follow", share_pack_id, "--workspace", emulator.url, "--json", "--timeout", "0.2",
                         "--interval", "0.05"], served_api, monkeypatch, capsys)

    report = printed_json(out)
    assert code == EXIT_NOT_FINAL  # no worker here: it stays queued
    assert (report["command"], report["share_pack_id"], report["status"]) == ("follow", share_pack_id,
                                                                             "IN_PROGRESS")
    assert report["share_pack_name"] and report["file"] is None


def test_follow_of_an_unknown_pack_exits_2_at_once(served_api, emulator, monkeypatch, capsys):
    code, out = run_cli(["follow", str(uuid.uuid4()), "--workspace", emulator.url, "--json"], served_api,
                        monkeypatch, capsys)

    assert code == EXIT_UNUSABLE
    assert "404" in printed_json(out)["message"]


def test_follow_gives_up_when_the_service_stays_unreachable(emulator, monkeypatch, capsys):
    with socket.socket() as closed:  # a port nothing listens on once the socket is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("SHAREPACK_API_URL", f"http://127.0.0.1:{port}")

    code = main(["follow", str(uuid.uuid4()), "--workspace", emulator.url, "--interval", "0.01"])

    assert code == EXIT_UNUSABLE
    assert "cannot reach" in capsys.readouterr().err
