"""Benchmark of the emulator's persistence: does a change cost the same whatever the workspace holds?

Run: ``.venv/bin/python -m bench.bench_emulator [--samples 200]``

Starts ``python -m dev.emulator --state-file ...`` as a real process (0 ms latency) twice in the same run: once
on an empty workspace, once on a workspace holding the design-scale pack (20,000 tables, 1,000 recipients,
500 shares of 40 objects, 2 grants per share). On each it times, through the real databricks-sdk:

* recipient create (a new TOKEN recipient each time);
* share PATCH adding 5 tables to a new share (created off the clock, so the reply's size, which grows
  with the share, is the same on both workspaces).

Each latency is measured twice: on the client (``perf_counter`` around the SDK call, so it includes the SDK
and HTTP) and on the server (the emulator's request log, ``ended_at - started_at``: the emulator's own work,
persistence included). Reports medians and the big/empty ratio, the time to seed 20,000 tables in one hook
call, and the restart time on the big state (the journal is folded into the snapshot at start).

Goals: server-side median ≤ 2 ms, and big/empty ratio ≤ 1.5 (≈ 1) for both calls.
Prints a Markdown table for bench/README.md; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.sharing import (
    AuthenticationType,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dev.devserver.ready import free_port
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl

ROOT = Path(__file__).resolve().parents[1]
TABLES = 20_000
RECIPIENTS = 1_000
SHARES = 500
OBJECTS_PER_SHARE = 40  # 20,000 in all
GRANTS_PER_SHARE = 2
OBJECTS_PER_PATCH = 5
GOAL_SERVER_MS = 2.0
GOAL_RATIO = 1.5


@dataclass
class Timing:
    """Medians of one operation on one workspace, in milliseconds."""

    client_ms: float
    server_ms: float


@contextmanager
def emulator_process(state_file: Path, root: Path = ROOT) -> Iterator[tuple[EmulatorControl, float]]:
    """Run ``python -m dev.emulator`` from ``root`` on ``state_file``; yield its hooks client and start time (s)."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dev.emulator",
            "--port",
            str(port),
            "--state-file",
            str(state_file),
            "--seed-table",
            "x.y.z",
        ],
        cwd=root,
        env={**os.environ, "EMULATOR_LATENCY_MS": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    control = EmulatorControl(f"http://127.0.0.1:{port}", timeout=120)
    try:
        control.wait_ready(timeout=120, process=process)
        yield control, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def client_for(control: EmulatorControl) -> WorkspaceClient:
    """Return a real SDK client of the emulator."""
    return WorkspaceClient(config=Config(host=control.url, token=DEFAULT_TOKEN, auth_type="pat"))


def table(name: str) -> SharedDataObjectUpdate:
    """Return an ADD of one table."""
    return SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.ADD,
        data_object=SharedDataObject(name=name, data_object_type=SharedDataObjectDataObjectType.TABLE),
    )


def build_big_pack(control: EmulatorControl, client: WorkspaceClient) -> float:
    """Create the design-scale workspace through the API; return the seconds the 20,000-table seed took."""
    names = [f"big.s{s:03}.t{i:03}" for s in range(SHARES) for i in range(OBJECTS_PER_SHARE)]
    assert len(names) == TABLES
    started = time.perf_counter()
    control.seed_tables(names)
    seed_seconds = time.perf_counter() - started
    for r in range(RECIPIENTS):
        client.recipients.create(name=f"r{r:04}", authentication_type=AuthenticationType.TOKEN)
    for s in range(SHARES):
        client.shares.create(name=f"share{s:03}")
        client.shares.update(f"share{s:03}", updates=[table(f"big.s{s:03}.t{i:03}") for i in range(OBJECTS_PER_SHARE)])
        client.shares.update_permissions(
            f"share{s:03}",
            changes=[
                PermissionsChange(principal=f"r{(s * GRANTS_PER_SHARE + g) % RECIPIENTS:04}", add=["SELECT"])
                for g in range(GRANTS_PER_SHARE)
            ],
        )
    return seed_seconds


def measure(
    control: EmulatorControl,
    samples: int,
    call: Callable[[int], object],
    method: str,
    *,
    prepare: Callable[[int], object] = lambda _: None,
) -> Timing:
    """Run ``prepare(i)`` then, timed, ``call(i)`` ``samples`` times; return client- and server-side medians."""
    control.clear_requests()
    client_ms = []
    for i in range(samples):
        prepare(i)
        started = time.perf_counter()
        call(i)
        client_ms.append((time.perf_counter() - started) * 1000)
    served = [e for e in control.requests(method=method) if e["path"].startswith("/api/")]
    assert len(served) == samples and all(e["status"] == 200 for e in served), "every call must succeed"
    server_ms = [(e["ended_at"] - e["started_at"]) * 1000 for e in served]
    return Timing(statistics.median(client_ms), statistics.median(server_ms))


def run_workload(control: EmulatorControl, samples: int, tag: str) -> dict[str, Timing]:
    """Time recipient creates and share PATCHes on the running workspace."""
    client = client_for(control)
    names = [f"patch.{tag}.t{i:05}" for i in range(samples * OBJECTS_PER_PATCH)]
    control.seed_tables(names)
    for i in range(20):  # warm up connections and code paths, off the clock
        client.recipients.create(name=f"warm{tag}{i}", authentication_type=AuthenticationType.TOKEN)
    create = measure(
        control,
        samples,
        lambda i: client.recipients.create(name=f"new{tag}{i:05}", authentication_type=AuthenticationType.TOKEN),
        "POST",
    )
    patch = measure(
        control,
        samples,
        lambda i: client.shares.update(
            f"new{tag}{i:05}", updates=[table(n) for n in names[i * OBJECTS_PER_PATCH : (i + 1) * OBJECTS_PER_PATCH]]
        ),
        "PATCH",
        prepare=lambda i: client.shares.create(name=f"new{tag}{i:05}"),
    )
    return {"recipient create": create, f"share PATCH adding {OBJECTS_PER_PATCH} objects": patch}


def main() -> int:
    """Measure on an empty and on a design-scale workspace; print the table; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--emulator-root",
        type=Path,
        default=ROOT,
        help="run the emulator package found in this directory (e.g. an older checkout, for comparison)",
    )
    args = parser.parse_args()
    root = args.emulator_root
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        with emulator_process(Path(tmp) / "empty.json", root) as (control, _):
            empty = run_workload(control, args.samples, "empty")
        big_file = Path(tmp) / "big.json"
        with emulator_process(big_file, root) as (control, _):
            build_started = time.perf_counter()
            seed_seconds = build_big_pack(control, client_for(control))
            build_seconds = time.perf_counter() - build_started
        journal = big_file.with_name("big.json.journal")
        journal_mb = journal.stat().st_size / 1e6 if journal.exists() else 0.0
        with emulator_process(big_file, root) as (control, restart_seconds):
            snapshot_mb = big_file.stat().st_size / 1e6
            big = run_workload(control, args.samples, "big")

    print(
        f"big pack built through the API in {build_seconds:.1f} s (20,000 tables seeded in one hook call: "
        f"{seed_seconds:.2f} s); journal {journal_mb:.1f} MB, folded at restart into a {snapshot_mb:.1f} MB "
        f"snapshot in {restart_seconds:.2f} s (process start included)\n"
    )
    print(f"median of {args.samples} calls, 0 ms latency, emulator in its own process\n")
    print("| call | empty: client | empty: server | big pack: client | big pack: server | big / empty (server) |")
    print("|---|---|---|---|---|---|")
    ok = True
    for name, small in empty.items():
        large = big[name]
        ratio = large.server_ms / small.server_ms
        ok &= large.server_ms <= GOAL_SERVER_MS and ratio <= GOAL_RATIO
        print(
            f"| {name} | {small.client_ms:.2f} ms | {small.server_ms:.2f} ms | {large.client_ms:.2f} ms | "
            f"{large.server_ms:.2f} ms | {ratio:.2f}x |"
        )
    print(f"\ngoals: server median ≤ {GOAL_SERVER_MS} ms and ratio ≤ {GOAL_RATIO}: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
