"""Benchmark of the provisioner against the workspace emulator with real round-trip latency.

Run: ``.venv/bin/python -m bench.bench_provisioning [--runs 3] [--latency-ms 50] [--concurrency 8]``

Measures, with 100 recipients, 50 shares and 5,000 data objects:

1. NEW: API calls (from the emulator's request log) against the minimum the API allows — one create per
   recipient and share, ⌈objects/100⌉ updates and one permissions call per share, plus the plan's reads
   (one recipients list, one shares list, and a get and a permissions read per share that exists) — and
   wall time against the critical-path bound: per step, ⌈calls/concurrency⌉ rounds, each as long as one
   unloaded call (measured: the configured latency plus the HTTP and SDK round trip); a share's object
   batches are sequential, so that step is never shorter than the longest share.
2. UPDATE replacing 10% of the objects: calls must scale with the change, not the pack.
3. Throughput of 4 packs in 4 worker processes against 1 pack in 1 (all on the one emulator process, each
   pack under its own name prefix).

Goals: calls ≤ 1.1 x minimum; wall ≤ 2 x bound; 4 processes ≥ 3 x the throughput of one.
Prints a Markdown table (medians over ``--runs``) for bench/README.md; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dev.emulator.app import EmulatorConfig
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import start_emulator
from shared.platform.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.diff import make_plan
from shared.provisioning.plan import MAX_UPDATES_PER_CALL, Plan
from shared.provisioning.steps import apply_step
from shared.share_pack_file.model import (
    DataObjectSpec,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

RECIPIENTS = 100
SHARES = 50
OBJECTS_PER_SHARE = 100  # 5,000 in all
CHANGED_PER_SHARE = 10  # the UPDATE replaces 10% of each share's objects
RECIPIENTS_PER_SHARE = 2
PROCESSES = 4


# -- the share packs ------------------------------------------------------------------------------------


def table_names() -> list[str]:
    """Every table the packs use: 100 per share plus the replacements the UPDATE adds."""
    per_share = OBJECTS_PER_SHARE + CHANGED_PER_SHARE
    return [f"bench.s{s:02}.t{i:03}" for s in range(SHARES) for i in range(per_share)]


def share_pack(strategy: Strategy, *, prefix: str = "", changed: int = 0, index: int = 0) -> SharePackSpec:
    """Return the benchmark pack; ``changed`` objects per share are swapped for new ones."""
    recipients = []
    for r in range(RECIPIENTS):
        if r % 5 == 4:  # one in five is Databricks-to-Databricks, each on its own metastore
            metastore = f"azure:westeurope:{index:08x}-0000-4000-8000-{r:012x}"
            recipients.append(RecipientSpec(f"{prefix}r{r:03}", RecipientType.D2D, metastore_id=metastore))
        else:
            recipients.append(
                RecipientSpec(
                    f"{prefix}r{r:03}",
                    RecipientType.D2O,
                    email=f"r{r}@example.com",
                    allowed_ips=("203.0.113.0/24", f"198.51.100.{r % 250}"),
                    token_expiry_days=90,
                )
            )
    shares = []
    for s in range(SHARES):
        first = changed  # drop the first `changed` tables, add as many replacements
        objects = [f"bench.s{s:02}.t{i:03}" for i in range(first, OBJECTS_PER_SHARE + changed)]
        grantees = [f"{prefix}r{(s * RECIPIENTS_PER_SHARE + k) % RECIPIENTS:03}" for k in range(RECIPIENTS_PER_SHARE)]
        shares.append(
            ShareSpec(
                f"{prefix}share{s:02}",
                comment=f"bench share {s}",
                recipients=tuple(grantees),
                data_objects=tuple(DataObjectSpec(name) for name in objects),
            )
        )
    metadata = Metadata("bench@example.com", "bench", "bench", strategy)
    return SharePackSpec(metadata, tuple(recipients), tuple(shares))


# -- measuring ------------------------------------------------------------------------------------------


@dataclass
class Run:
    plan: Plan
    wall: float
    calls: int
    reads: int
    writes: int
    minimum: int
    bound: float


def provision(url: str, spec: SharePackSpec, *, concurrency: int) -> tuple[Plan, float]:
    """Read, plan and apply one pack the way the worker does; return the plan and the wall time."""
    clients = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), concurrency=concurrency)
    gateway = clients.gateway(url)  # builds the client (host probe) before the clock starts
    started = time.perf_counter()
    plan = make_plan(spec, gateway.read_state(spec))
    for step in plan.sections:
        apply_step(step, plan, gateway, concurrency=concurrency)
    return plan, time.perf_counter() - started


def minimum_and_rounds(plan: Plan, *, existing_shares: int, concurrency: int) -> tuple[int, int]:
    """Return the minimum number of calls for a plan and the rounds of calls on its critical path."""
    per_share_objects: dict[str, int] = {}
    for change in plan.changes_for("data_objects"):
        per_share_objects[change.share or ""] = per_share_objects.get(change.share or "", 0) + 1
    object_calls = {share: math.ceil(n / MAX_UPDATES_PER_CALL) for share, n in per_share_objects.items()}
    grant_calls = len({c.share for c in plan.changes_for("grants")})
    reads = 2 + 2 * existing_shares
    writes = (
        len(plan.changes_for("recipients")) + len(plan.changes_for("shares")) + sum(object_calls.values()) + grant_calls
    )

    def rounds(calls: int) -> int:
        return math.ceil(calls / concurrency)

    critical_rounds = (
        1  # the two lists run side by side
        + rounds(2 * existing_shares)
        + rounds(len(plan.changes_for("recipients")))
        + rounds(len(plan.changes_for("shares")))
        + max(rounds(sum(object_calls.values())), max(object_calls.values(), default=0))
        + rounds(grant_calls)
    )
    return reads + writes, critical_rounds


def measure(
    control: EmulatorControl,
    url: str,
    spec: SharePackSpec,
    *,
    existing_shares: int,
    concurrency: int,
    round_trip: float,
    before: Callable[[], None] | None = None,
) -> Run:
    if before is not None:
        before()
    control.clear_requests()
    plan, wall = provision(url, spec, concurrency=concurrency)
    log = [r for r in control.requests() if r["path"].startswith("/api/")]
    reads = sum(1 for r in log if r["method"] == "GET")
    minimum, rounds = minimum_and_rounds(plan, existing_shares=existing_shares, concurrency=concurrency)
    return Run(plan, wall, len(log), reads, len(log) - reads, minimum, rounds * round_trip)


def round_trip_seconds(url: str, *, samples: int = 21) -> float:
    """Return the median time of one unloaded call (latency + HTTP + SDK): the length of one round."""
    client = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN)).client(url)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        list(client.shares.list_shares())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _worker(url: str, prefix: str, index: int, concurrency: int, start: Any, out: Any) -> None:
    """One worker process: wait for the start signal, provision its own pack, report when it finished."""
    _quiet_sdk()
    pack = share_pack(Strategy.NEW, prefix=prefix, index=index)
    WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN)).client(url)  # warm imports and probe
    start.wait()
    _, wall = provision(url, pack, concurrency=concurrency)
    out.put((prefix, wall, time.time()))


def throughput(control: EmulatorControl, url: str, *, processes: int, concurrency: int) -> float:
    """Return packs per second with ``processes`` worker processes, one NEW pack each (wall clock)."""
    control.reset()
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, f"p{k}_", k + 1, concurrency, start, out)) for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(3)  # let every process import and build its client before the clock starts
    began = time.time()
    start.set()
    finished = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    return processes / (max(end for _, _, end in finished) - began)


# -- report ---------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report_row(name: str, runs: list[Run]) -> str:
    calls = median([r.calls for r in runs])
    reads = median([r.reads for r in runs])
    writes = median([r.writes for r in runs])
    minimum = runs[0].minimum
    wall = median([r.wall for r in runs])
    bound = runs[0].bound
    return (
        f"| {name} | {calls:.0f} ({reads:.0f} reads + {writes:.0f} writes) | {minimum} | {calls / minimum:.2f}x "
        f"| {wall:.2f} s | {bound:.2f} s | {wall / bound:.2f}x |"
    )


def _quiet_sdk() -> None:
    # The emulator has no host-metadata endpoint; the SDK warns about it once per client.
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_sdk()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)

    running = start_emulator(seed_tables=table_names(), config=EmulatorConfig(latency_ms=args.latency_ms))
    control = EmulatorControl(running.url)
    round_trip = round_trip_seconds(running.url)
    new_pack = share_pack(Strategy.NEW)
    update_pack = share_pack(Strategy.UPDATE, changed=CHANGED_PER_SHARE)
    try:
        new_runs, update_runs = [], []
        for _ in range(args.runs):
            new_runs.append(
                measure(
                    control,
                    running.url,
                    new_pack,
                    existing_shares=0,
                    concurrency=args.concurrency,
                    round_trip=round_trip,
                    before=control.reset,
                )
            )
            update_runs.append(
                measure(
                    control,
                    running.url,
                    update_pack,
                    existing_shares=SHARES,
                    concurrency=args.concurrency,
                    round_trip=round_trip,
                )
            )
        one = [throughput(control, running.url, processes=1, concurrency=args.concurrency) for _ in range(args.runs)]
        many = [
            throughput(control, running.url, processes=PROCESSES, concurrency=args.concurrency)
            for _ in range(args.runs)
        ]
    finally:
        running.stop()

    update_summary = update_runs[0].plan.summary()
    ratio = median(many) / median(one)
    print(
        f"Provisioning benchmark: {RECIPIENTS} recipients, {SHARES} shares, {SHARES * OBJECTS_PER_SHARE} data "
        f"objects; emulator latency {args.latency_ms} ms per call; concurrency {args.concurrency}; "
        f"one unloaded call takes {round_trip * 1000:.0f} ms (a round of the bound); median of {args.runs} runs.\n"
    )
    print("| run | API calls | minimum | calls / min | wall | critical-path bound | wall / bound |")
    print("|---|---|---|---|---|---|---|")
    print(report_row("NEW (create all)", new_runs))
    changed = update_summary.get("data_object_remove", 0) + update_summary.get("data_object_add", 0)
    print(report_row(f"UPDATE ({changed} object changes = 10%)", update_runs))
    print()
    print(f"| throughput | packs/s (median) |\n|---|---|\n| 1 process, 1 pack | {median(one):.3f} |")
    print(f"| {PROCESSES} processes, {PROCESSES} packs | {median(many):.3f} |")
    print(f"\n{PROCESSES}-process / 1-process throughput: {ratio:.2f}x (goal ≥ 3x)")
    met = all(
        median([r.calls for r in runs]) <= 1.1 * runs[0].minimum and median([r.wall for r in runs]) <= 2 * runs[0].bound
        for runs in (new_runs, update_runs)
    )
    met = met and ratio >= 3
    print("all goals met" if met else "GOALS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
