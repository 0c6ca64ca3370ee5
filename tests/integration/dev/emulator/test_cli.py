"""``python -m dev.emulator``: serves the seeded workspace, keeps state across restarts, exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dev.devserver.ready import NotReadyError, free_port
from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES
from shared.share_pack_file.sample import sample_share_pack

ROOT = Path(__file__).resolve().parents[4]


def _run(port: int, state_file: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EMULATOR_LATENCY_MS": "5"}
    return subprocess.Popen(
        [sys.executable, "-m", "dev.emulator", "--port", str(port), "--state-file", str(state_file), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(control: EmulatorControl, process: subprocess.Popen[str]) -> None:
    try:
        control.wait_ready(timeout=15, process=process)
    except NotReadyError as exc:
        output = process.stdout.read() if process.stdout and process.poll() is not None else ""
        pytest.fail(f"{exc}\n{output}")


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=10)
    return process.returncode, output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_default_tables_and_exits_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    process = _run(port, tmp_path / "state.json")
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    try:
        _wait_ready(control, process)
        state = control.state()
        assert sorted(t["full_name"] for t in state["tables"]) == [
            "finance.ledger.accounts",
            "finance.ledger.entries",
            "sales.reporting.customers",
            "sales.reporting.orders",
            "sales.reporting.returns",
        ]
        assert state["config"]["latency_ms"] == 5
    finally:
        returncode, output = _stop(process, sig)
    assert returncode == 0
    assert f"emulator listening on http://127.0.0.1:{port}" in output


def test_cli_state_survives_restart(tmp_path: Path) -> None:
    state_file, port = tmp_path / "state.json", free_port()
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    process = _run(port, state_file, "--seed-table", "ops.audit.events")
    try:
        _wait_ready(control, process)
        control.seed_tables(["ops.audit.extra"])
    finally:
        _stop(process, signal.SIGTERM)

    process = _run(port, state_file, "--seed-table", "ops.audit.events")
    try:
        _wait_ready(control, process)
        assert sorted(t["full_name"] for t in control.state()["tables"]) == [
            "ops.audit.events",
            "ops.audit.extra",
        ]
    finally:
        _stop(process, signal.SIGTERM)


def test_the_default_tables_are_the_ones_the_sample_pack_shares() -> None:
    shared = {obj.name for share in sample_share_pack().shares for obj in share.data_objects}
    assert sorted(shared) == sorted(DEMO_TABLES)
