"""The journal: every kind of change survives a clean restart and ``kill -9``; a torn last line is ignored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.sharing import (
    AuthenticationType,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dev.devserver.ready import free_port
from dev.emulator import journal
from dev.emulator.control import EmulatorControl
from dev.emulator.server import start_emulator
from tests.integration.dev.emulator.helpers import D2D_SHARING_ID, add, remove

ROOT = Path(__file__).resolve().parents[4]
TABLES = [f"sales.reporting.t{i}" for i in range(6)]


def _client(url: str) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=url, token="local-dev-token", auth_type="pat", retry_timeout_seconds=10))


def _make_every_kind_of_change(client: WorkspaceClient, control: EmulatorControl) -> None:
    """Touch every journalled entity kind, including renames and deletions."""
    control.seed_tables(TABLES)
    control.drop_table(TABLES[5])
    control.update_metastore(delta_sharing_organization_name="Renamed Org")
    client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN, comment="c")
    client.recipients.create(
        name="partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID,
    )
    client.recipients.create(name="gone", authentication_type=AuthenticationType.TOKEN)
    client.recipients.rotate_token("acme", existing_token_expire_in_seconds=60)
    client.shares.create(name="sales")
    client.shares.update("sales", updates=[add(TABLES[0]), add(TABLES[1]), add(TABLES[2], shared_as="x.y")])
    client.shares.update(
        "sales",
        comment="now with comment",
        updates=[
            remove(TABLES[1]),
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.UPDATE,
                data_object=SharedDataObject(name=TABLES[0], comment="updated"),
            ),
        ],
    )
    client.shares.create(name="old_name")
    client.shares.update("old_name", updates=[add(TABLES[3])])
    for share in ("sales", "old_name"):
        client.shares.update_permissions(
            share,
            changes=[
                PermissionsChange(principal="acme", add=["SELECT"]),
                PermissionsChange(principal="gone", add=["SELECT"]),
            ],
        )
    client.shares.update("old_name", new_name="new_name")
    client.recipients.update("acme", new_name="acme2")
    client.recipients.delete("gone")
    client.shares.create(name="doomed")
    client.shares.update_permissions("doomed", changes=[PermissionsChange(principal="partner", add=["SELECT"])])
    client.shares.delete("doomed")
    # Last, each on its own entity, so no later change rewrites it and hides a missing record.
    client.shares.update_permissions("sales", changes=[PermissionsChange(principal="partner", add=["SELECT"])])
    client.recipients.create(name="rotated", authentication_type=AuthenticationType.TOKEN)
    client.recipients.rotate_token("rotated", existing_token_expire_in_seconds=0)
    client.recipients.create(name="fetched", authentication_type=AuthenticationType.TOKEN)
    link = client.recipients.get("fetched").tokens[0].activation_url
    client.recipient_activation.retrieve_token(link.split("?", 1)[1])


def _durable_state(control: EmulatorControl) -> dict[str, Any]:
    """The workspace state without the run-time knobs (which a restart resets on purpose)."""
    state = control.state()
    state.pop("config")
    for key in ("tables", "recipients", "shares"):
        state[key] = sorted(state[key], key=lambda item: item.get("full_name") or item["name"])
    return state


def test_every_change_survives_a_clean_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "workspace.json"
    with start_emulator(state_file=state_file) as first:
        control = EmulatorControl(first.url)
        _make_every_kind_of_change(_client(first.url), control)
        before = _durable_state(control)

    with start_emulator(state_file=state_file) as second:
        assert _durable_state(EmulatorControl(second.url)) == before
        client = _client(second.url)
        assert [g.principal for g in client.shares.share_permissions("new_name").privilege_assignments] == ["acme2"]
    assert before["metastore"]["delta_sharing_organization_name"] == "Renamed Org"
    assert sorted(s["name"] for s in before["shares"]) == ["new_name", "sales"]


def test_start_folds_the_journal_into_the_snapshot(tmp_path: Path) -> None:
    state_file = tmp_path / "workspace.json"
    journal_file = tmp_path / "workspace.json.journal"
    with start_emulator(state_file=state_file) as first:
        _client(first.url).shares.create(name="sales")
        assert journal_file.stat().st_size > 0, "the change is journalled, not written to the snapshot"
        assert json.loads(state_file.read_text())["shares"] == []

    with start_emulator(state_file=state_file):
        assert journal_file.stat().st_size == 0
        assert [s["name"] for s in json.loads(state_file.read_text())["shares"]] == ["sales"]


def test_a_long_journal_is_compacted_while_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(journal, "COMPACT_RATIO", 1)
    state_file = tmp_path / "workspace.json"
    with start_emulator(state_file=state_file) as running:
        client = _client(running.url)
        for i in range(5):
            client.shares.create(name=f"s{i}", comment="x" * 2000)
        # Without compaction the snapshot would still be the empty one written at start.
        in_snapshot = {s["name"] for s in json.loads(state_file.read_text())["shares"]}
        assert in_snapshot, "the journal outgrew the snapshot and was folded into it"
        assert in_snapshot <= {f"s{i}" for i in range(5)}
    with start_emulator(state_file=state_file) as restarted:
        assert [s.name for s in _client(restarted.url).shares.list_shares()] == [f"s{i}" for i in range(5)]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    state_file = tmp_path / "workspace.json"
    with start_emulator(state_file=state_file) as first:
        _client(first.url).shares.create(name="kept")
    with (tmp_path / "workspace.json.journal").open("ab") as handle:
        handle.write(b'{"kind":"share","key":"torn","value":{"name":"to')  # a crash mid-write

    with start_emulator(state_file=state_file) as second:
        assert [s.name for s in _client(second.url).shares.list_shares()] == ["kept"]


# -- a real process, killed -----------------------------------------------------------------------


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[Any]:
    """Start ``python -m dev.emulator`` processes on one port and state file; kill leftovers after the test."""
    port, state_file = free_port(), tmp_path / "workspace.json"
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> EmulatorControl:
        process = subprocess.Popen(
            [sys.executable, "-m", "dev.emulator", "--port", str(port), "--state-file", str(state_file)],
            cwd=ROOT,
            env={**os.environ, "EMULATOR_LATENCY_MS": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        control = EmulatorControl(f"http://127.0.0.1:{port}")
        control.wait_ready(timeout=20, process=process)
        return control

    yield start, processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_every_change_survives_kill_9(emulator_process: Any) -> None:
    start, processes = emulator_process
    control = start()
    _make_every_kind_of_change(_client(control.url), control)
    before = _durable_state(control)

    processes[-1].send_signal(signal.SIGKILL)
    assert processes[-1].wait(timeout=10) == -signal.SIGKILL

    control = start()
    assert _durable_state(control) == before
    # And the restarted process keeps journalling on top of the folded state.
    _client(control.url).shares.create(name="after_restart")
    processes[-1].send_signal(signal.SIGKILL)
    processes[-1].wait(timeout=10)
    control = start()
    assert "after_restart" in [s["name"] for s in control.state()["shares"]]
