"""Benchmark of the pre-flight check on a design-scale pack against the emulator with real latency.

Run: ``.venv/bin/python -m bench.bench_preflight [--runs 5] [--latency-ms 50]``

The pack: 20,000 tables in 500 schemas, shared in 40 shares of 500 objects to 100 recipients (NEW, nothing
exists yet). Measured, medians over ``--runs``:

1. the whole pre-flight (reads, checks, plan preview) at concurrency 8 (the default) and 16: wall time
   and API calls (from the emulator's request log). Goal: ≤ 5 s at 50 ms latency.
2. the baseline, in the same run: checking existence one object at a time (``tables.exists``, bounded by
   the same concurrency) on a 1/20 slice (1,000 objects), against the batched reads on that same slice.

Prints a Markdown table for bench/README.md; exits 1 if the goal is missed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from dev.emulator.app import EmulatorConfig
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import start_emulator
from shared.platform.credentials import DatabricksCredentials
from shared.preflight import preflight
from shared.provisioning.clients import WorkspaceClients
from shared.share_pack_file.model import (
    DataObjectSpec,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

SCHEMAS = 500
TABLES_PER_SCHEMA = 40  # 20,000 in all
SHARES = 40
RECIPIENTS = 100
SLICE = 20  # the baseline runs on 1/20 of the pack
GOAL_SECONDS = 5.0


def table_names() -> list[str]:
    return [f"bench.s{s:03d}.t{t:02d}" for s in range(SCHEMAS) for t in range(TABLES_PER_SCHEMA)]


def share_pack(tables: Sequence[str]) -> SharePackSpec:
    per_share = max(1, len(tables) // SHARES)
    recipients = tuple(
        RecipientSpec(name=f"r{i:03d}", type=RecipientType.D2O, email="a@example.com", allowed_ips=("10.0.0.1",))
        for i in range(RECIPIENTS)
    )
    shares = tuple(
        ShareSpec(
            name=f"share{i:02d}",
            recipients=(f"r{i % RECIPIENTS:03d}", f"r{(i + 1) % RECIPIENTS:03d}"),
            data_objects=tuple(DataObjectSpec(name=t) for t in tables[i * per_share : (i + 1) * per_share]),
        )
        for i in range(min(SHARES, len(tables)))
    )
    metadata = Metadata(
        requestor="bench@example.com", project_name="bench", business_line="bench", strategy=Strategy.NEW
    )
    return SharePackSpec(metadata=metadata, recipients=recipients, shares=shares)


def timed_preflight(url: str, spec: SharePackSpec, control: EmulatorControl, concurrency: int) -> tuple[float, int]:
    gateway = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), concurrency=concurrency).gateway(url)
    gateway.metastore_sharing()  # build the client (host probe) outside the measurement
    control.clear_requests()
    start = time.perf_counter()
    report = preflight(spec, gateway, concurrency=concurrency)
    elapsed = time.perf_counter() - start
    assert not report.errors, report.errors[:3]
    return elapsed, len(control.requests())


def timed_one_by_one(url: str, tables: Sequence[str], control: EmulatorControl, concurrency: int) -> tuple[float, int]:
    client = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN)).client(url)
    control.clear_requests()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        found = list(pool.map(lambda t: client.tables.exists(t).table_exists, tables))
    elapsed = time.perf_counter() - start
    assert all(found)
    return elapsed, len(control.requests())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    tables = table_names()
    running = start_emulator(seed_tables=tables, config=EmulatorConfig(latency_ms=args.latency_ms))
    control = EmulatorControl(running.url)
    try:
        pack = share_pack(tables)
        sliced = tables[: len(tables) // SLICE]
        slice_pack = share_pack(sliced)
        rows: list[tuple[str, float, int]] = []
        for concurrency in (8, 16):
            runs = [timed_preflight(running.url, pack, control, concurrency) for _ in range(args.runs)]
            rows.append(
                (
                    f"pre-flight, 20,000 objects / 500 schemas, concurrency {concurrency}",
                    statistics.median(r[0] for r in runs),
                    int(statistics.median(r[1] for r in runs)),
                )
            )
        batched = [timed_preflight(running.url, slice_pack, control, 8) for _ in range(args.runs)]
        one_by_one = [timed_one_by_one(running.url, sliced, control, 8) for _ in range(args.runs)]
        batched_s = statistics.median(r[0] for r in batched)
        baseline_s = statistics.median(r[0] for r in one_by_one)
        rows.append(("slice 1,000 objects: batched pre-flight, concurrency 8", batched_s, int(batched[0][1])))
        rows.append(("slice 1,000 objects: tables.exists per object (baseline)", baseline_s, int(one_by_one[0][1])))
    finally:
        running.stop()
    print(f"\nEmulator latency {args.latency_ms} ms per call; medians over {args.runs} runs.\n")
    print("| Measurement | Wall (s) | API calls |")
    print("|---|---:|---:|")
    for name, seconds, calls in rows:
        print(f"| {name} | {seconds:.2f} | {calls} |")
    print(f"\nBatched vs one-by-one on the slice: {baseline_s / batched_s:.1f}x faster.")
    default = rows[0][1]
    verdict = "met" if default <= GOAL_SECONDS else "MISSED"
    print(f"Goal ≤ {GOAL_SECONDS:g} s at the default concurrency: {verdict} ({default:.2f} s).")
    return 0 if default <= GOAL_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
