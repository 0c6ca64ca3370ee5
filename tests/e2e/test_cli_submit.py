"""`sharepack submit --follow` against the served API with a worker process: the command shows each step and
exits 0 only when the pack COMPLETED, 1 when it FAILED."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from shared.share_pack_file.cli import EXIT_INVALID, EXIT_VALID, main
from tests.e2e.conftest import API_KEY, Stack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_sharepack.yaml"


@pytest.fixture
def served(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack's API served over HTTP, and the CLI pointed at it."""
    server = make_server("127.0.0.1", 0, stack.client.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SHAREPACK_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("SHAREPACK_API_KEY", API_KEY)
    yield stack
    server.shutdown()
    thread.join(timeout=10)


def test_follow_shows_every_step_and_exits_0_on_completed(served: Stack, capsys) -> None:
    served.start_worker()

    code = main(["submit", str(EXAMPLE), "--workspace", served.emulator.url, "--follow", "--interval", "0.1"])

    out = capsys.readouterr().out
    assert code == EXIT_VALID, out
    assert "Step 8/8: Completed" in out
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert steps and all("Step " in line for line in steps)  # plain lines, not a redrawn bar: not a terminal
    assert "completed: COMPLETED" in out.splitlines()[-1]
    share_pack_id = out.split("SharePackId ")[1].split(",")[0]
    assert served.status(share_pack_id)["Status"] == "COMPLETED"


def test_a_pack_that_fails_exits_1_with_its_error_in_json(served: Stack, tmp_path: Path, capsys) -> None:
    served.start_worker()
    broken = tmp_path / "late.yaml"
    broken.write_text(EXAMPLE.read_text().replace("sales.reporting.orders", "sales.reporting.late"))

    code = main(["submit", str(broken), "--workspace", served.emulator.url, "--follow", "--interval", "0.1",
                 "--json"])

    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == EXIT_INVALID, report
    assert report["command"] == "submit" and report["accepted"] is True
    assert report["status"] == "FAILED" and "sales.reporting.late" in report["error_message"]
    assert served.status(report["share_pack_id"])["Status"] == "FAILED"
    # the progress went to stderr (as many steps as the polls saw), the JSON alone to stdout
    assert "Step " in captured.err and captured.err.rstrip().endswith("(FAILED)")
