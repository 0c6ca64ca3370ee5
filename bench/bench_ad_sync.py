"""Benchmark of the AD sync: 50,000 users and 2,000 groups of 20 members through the Graph emulator.

Run: ``.venv/bin/python -m bench.bench_ad_sync [--users 50000 --groups 2000]``

Starts the embedded PostgreSQL (migrated) and ``python -m dev.graph_emulator`` as its own process (so the
emulator's memory and CPU are not counted as the sync's), seeds the directory (plus 10% unrelated groups
the sync must skip), then runs in this process:

1. the first users sync (a full delta round, 100 objects a page) and the first groups sync;
2. a second run of both with nothing changed (must write 0 versions and resume from the delta links);
3. a third run after 1% of the users changed (disabled) and 1% of the groups lost a member.

Each run is timed (wall clock) and, in a separate pass of the same scenario, traced with tracemalloc for the
peak Python memory. The same scenario at a tenth of the size is the baseline measured in the same run: the
time should grow about linearly (ratio ≈ 10) while the peak memory of a round, which streams pages and
writes batches of 1,000, should stay far below 10x (only the ids seen in a full round are kept, to
reconcile deletions). The later runs handle work proportional to the changes (up to one batch), so their
memory ratio reflects how full a batch gets, not the directory's size; they are reported, not gated.
Prints a Markdown table for bench/README.md; exits 1 when an unchanged run writes a version or a full
round's memory ratio exceeds 5.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dev.devserver.ready import free_port
from dev.graph_emulator.control import GraphEmulatorControl
from shared.graph.ad_sync import AdSync, SyncCounts
from shared.platform.db import make_engine, make_session_factory
from shared.platform.embedded_postgres import start_embedded_postgres
from tests.support.graph_emulator import make_graph_client
from tests.support.postgres import migrated_database_url

ROOT = Path(__file__).resolve().parents[1]

MEMBERS_PER_GROUP = 20
GOAL_MEMORY_RATIO = 5.0


@dataclass
class Step:
    """One measured sync call."""

    name: str
    seconds: float
    peak_mb: float
    counts: SyncCounts


@contextmanager
def graph_emulator_process() -> Iterator[GraphEmulatorControl]:
    """``python -m dev.graph_emulator`` on a free port, in memory only."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dev.graph_emulator", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    control = GraphEmulatorControl(f"http://127.0.0.1:{port}", timeout=600)
    try:
        control.wait_ready(timeout=60, process=process)
        yield control
    finally:
        process.terminate()
        process.wait(timeout=30)


def seed(control: GraphEmulatorControl, users: int, groups: int) -> list[str]:
    """Seed the directory; return the names of the groups the sync is asked for."""
    control.reset()
    control.seed(users=[{"userPrincipalName": f"user{i:06d}@example.com", "mail": f"user{i:06d}@example.com",
                         "displayName": f"User {i}", "department": f"Dept {i % 50}", "jobTitle": "Analyst"}
                        for i in range(users)])
    names = [f"Group {g:05d}" for g in range(groups)]
    specs = [{"displayName": name,
              "members": [f"user{(g * MEMBERS_PER_GROUP + m) % users:06d}@example.com"
                          for m in range(MEMBERS_PER_GROUP)]}
             for g, name in enumerate(names)]
    specs += [{"displayName": f"Unrelated {g:05d}", "members": [f"user{g % users:06d}@example.com"]}
              for g in range(groups // 10)]
    for start in range(0, len(specs), 500):
        control.seed(groups=specs[start:start + 500])
    return names


def measure(name: str, call: Callable[[], SyncCounts], traced: bool) -> Step:
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    counts = call()
    seconds = time.perf_counter() - started
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return Step(name, seconds, peak, counts)


def scenario(database_url: str, users: int, groups: int, traced: bool) -> list[Step]:
    """Fresh database and directory; the three runs described in the module docstring."""
    url = migrated_database_url(database_url, prefix="adsync")
    engine = make_engine(url)
    try:
        with graph_emulator_process() as control:
            names = seed(control, users, groups)
            sync = AdSync(make_session_factory(engine), make_graph_client(control.url), batch_size=1000)
            steps = [measure("users, first run (full round)", sync.sync_users, traced),
                     measure("groups, first run (full round)", lambda: sync.sync_groups(names), traced),
                     measure("users, unchanged", sync.sync_users, traced),
                     measure("groups, unchanged", lambda: sync.sync_groups(names), traced)]
            for i in range(0, users, 100):
                control.disable_user(f"user{i:06d}@example.com")
            for g in range(0, groups, 100):
                control.change_members(names[g], remove=[f"user{(g * MEMBERS_PER_GROUP) % users:06d}@example.com"])
            steps += [measure("users, 1% disabled", sync.sync_users, traced),
                      measure("groups, 1% lost a member", lambda: sync.sync_groups(names), traced)]
            return steps
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ad-bench-", dir="/tmp") as tmp:
        server = start_embedded_postgres(Path(tmp) / "pg")
        small = (args.users // 10, args.groups // 10)
        timed = {size: scenario(server, *size, traced=False) for size in (small, (args.users, args.groups))}
        traced = {size: scenario(server, *size, traced=True) for size in (small, (args.users, args.groups))}
    big = (args.users, args.groups)
    print(f"| step ({args.users:,} users, {args.groups:,} groups x {MEMBERS_PER_GROUP}) | time | "
          f"time at 1/10 | ratio | peak memory | peak at 1/10 | ratio | versions written |")
    print("|---|---|---|---|---|---|---|---|")
    failed = False
    for i, step in enumerate(timed[big]):
        base, mem, mem_base = timed[small][i], traced[big][i], traced[small][i]
        ratio = mem.peak_mb / mem_base.peak_mb if mem_base.peak_mb else 0
        print(f"| {step.name} | {step.seconds:.2f} s | {base.seconds:.2f} s | {step.seconds / base.seconds:.1f} | "
              f"{mem.peak_mb:.1f} MB | {mem_base.peak_mb:.1f} MB | {ratio:.1f} | {step.counts.versions_written:,} |")
        if "unchanged" in step.name and step.counts.versions_written:
            failed = True
        if "full round" in step.name and ratio > GOAL_MEMORY_RATIO:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
