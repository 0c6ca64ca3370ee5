"""Benchmark the whole provisioning job on the pack the format was designed for, with real recording.

Run: ``.venv/bin/python -m bench.bench_design_scale [--runs 3] [--latency-ms 50] [--concurrency 8]``

The pack is `bench_sharepack.big_share_pack()`: 1,000 recipients (half D2O, half D2D), 500 shares, 20,000
data objects, 2 grants per share. Each run provisions it with the worker's own `ProvisioningJob`, in a
fresh worker process (for its peak RSS), against a fresh PostgreSQL database and the workspace emulator
with ``--latency-ms`` added to every call:

1. NEW: everything is created. Then
2. UPDATE touching 1% of the objects: 200 shares each swap one table for another (200 removals + 200
   additions in one call per share).

For each: API calls (emulator request log) against the API's minimum and the wall time against the
critical-path bound at the configured concurrency, both computed as `bench_provisioning` does; the worker's
peak RSS; the time of step 8, "Recording the outcome" (the history of recipients, shares and objects and
the final status, in one transaction); and, for information, every database write of the job (progress
lines, the plan, audit and notification rows, reconciliation and step 8).

Goals: calls ≤ 1.1 x minimum, wall ≤ 2 x bound, peak RSS ≤ 500 MB, recording the outcome (step 8)
≤ 10% of the wall.
Prints a Markdown table (medians over ``--runs``) for bench/README.md; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import create_engine, select, text

from alembic import command
from bench.bench_provisioning import _quiet_sdk, minimum_and_rounds, round_trip_seconds
from bench.bench_sharepack import big_share_pack
from dev.emulator.app import EmulatorConfig
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import start_emulator
from shared.models import SharePack
from shared.models.history import History
from shared.platform.credentials import DatabricksCredentials
from shared.platform.db import make_engine, make_session_factory
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.platform.status import SharePackStatus
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.plan import Plan
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import DataObjectSpec, SharePackSpec, Strategy
from worker.jobs.provision import ProvisioningJob

ROOT = Path(__file__).resolve().parents[1]
CHANGED_SHARES = 200  # 1% of the 20,000 objects: one swapped table in each of 200 shares
RSS_GOAL_MB = 500
RECORDING_GOAL = 0.10


# -- the packs ------------------------------------------------------------------------------------------


def new_pack() -> SharePackSpec:
    return big_share_pack()


def update_pack() -> SharePackSpec:
    """The big pack as an UPDATE whose first 200 shares each share one new table instead of their first."""
    pack = big_share_pack()
    shares = list(pack.shares)
    for s in range(CHANGED_SHARES):
        objects = (DataObjectSpec(name=replacement_table(s)), *shares[s].data_objects[1:])
        shares[s] = dataclasses.replace(shares[s], data_objects=objects)
    metadata = dataclasses.replace(pack.metadata, strategy=Strategy.UPDATE)
    return dataclasses.replace(pack, metadata=metadata, shares=tuple(shares))


def replacement_table(share_index: int) -> str:
    return f"cat_{share_index % 7}.schema_0.table_{share_index}_swapped"


def tables() -> list[str]:
    names = {o.name for share in new_pack().shares for o in share.data_objects}
    return sorted(names | {replacement_table(s) for s in range(CHANGED_SHARES)})


# -- one provisioning, in a worker process --------------------------------------------------------------


@dataclass
class Measured:
    """What the worker process reports."""

    wall: float
    recording: float
    record_outcome: float
    peak_rss_mb: float
    status: str
    timings: dict[str, float]


class Never:
    def should_stop(self) -> bool:
        return False


def _timed(timings: dict[str, float], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - started

    return run


def _worker(database_url: str, workspace_url: str, command_json: str, concurrency: int, out: Any) -> None:
    """Run the job once, as the worker would; report wall, recording time and peak RSS."""
    _quiet_sdk()
    engine = make_engine(database_url)
    clients = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), concurrency=concurrency)
    clients.gateway(workspace_url)  # build the client (host probe) before the clock starts, as a warm worker has
    job = ProvisioningJob(
        session_factory=make_session_factory(engine),
        engine=engine,
        gateway_for=clients.gateway,
        concurrency=concurrency,
    )
    timings: dict[str, float] = {}
    recorder = job.recorder
    for name in ("status", "plan_ready", "reconcile", "step", "complete", "fail"):
        setattr(recorder, name, _timed(timings, name, getattr(recorder, name)))
    started = time.perf_counter()
    job.run(ProvisionSharePack.from_json(command_json), Never())
    wall = time.perf_counter() - started
    with make_session_factory(engine)() as session:
        status = History(session, SharePack).get_current(ProvisionSharePack.from_json(command_json).share_pack_id)
        final = f"{status.share_pack_status}: {status.error_message or status.provisioning_status}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(Measured(wall, sum(timings.values()), timings.get("complete", 0.0), peak, final, timings))


def submit(database_url: str, spec: SharePackSpec, workspace_url: str) -> ProvisionSharePack:
    """Store the pack as the API does after validation (IN_PROGRESS) and return its queue message."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine).begin() as session:
            row = History(session, SharePack).create(
                created_by="bench",
                share_pack_name=f"bench-{uuid.uuid4().hex[:8]}",
                share_pack_status=SharePackStatus.IN_PROGRESS,
                provisioning_status="Queued for provisioning",
                requested_by=spec.metadata.requestor,
                strategy=spec.metadata.strategy.value,
                config=spec.to_dict(),
                file_format="yaml",
                workspace_url=workspace_url,
                created_at=datetime.now(UTC),
            )
            return ProvisionSharePack(share_pack_id=row.share_pack_id)
    finally:
        engine.dispose()


def stored_plan(database_url: str, share_pack_id: uuid.UUID) -> Plan:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            data = conn.scalar(
                select(SharePack.plan).where(SharePack.share_pack_id == share_pack_id, SharePack.is_current)
            )
    finally:
        engine.dispose()
    return Plan.from_dict(data)


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = server_url.replace("/postgres?", f"/{name}?", 1)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    return url


# -- measuring ------------------------------------------------------------------------------------------


@dataclass
class Run:
    measured: Measured
    plan: Plan
    calls: int
    reads: int
    minimum: int
    bound: float


def measure(
    control: EmulatorControl,
    database_url: str,
    workspace_url: str,
    spec: SharePackSpec,
    *,
    existing_shares: int,
    concurrency: int,
    round_trip: float,
) -> Run:
    message = submit(database_url, spec, workspace_url)
    control.clear_requests()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    worker = context.Process(target=_worker, args=(database_url, workspace_url, message.to_json(), concurrency, out))
    worker.start()
    measured: Measured = out.get(timeout=3600)
    worker.join()
    log = [r for r in control.requests() if r["path"].startswith("/api/")]
    reads = sum(1 for r in log if r["method"] == "GET")
    plan = stored_plan(database_url, message.share_pack_id)
    minimum, rounds = minimum_and_rounds(plan, existing_shares=existing_shares, concurrency=concurrency)
    return Run(measured, plan, len(log), reads, minimum, rounds * round_trip)


# -- report ---------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def row(name: str, runs: list[Run]) -> str:
    calls, reads = median([r.calls for r in runs]), median([r.reads for r in runs])
    wall = median([r.measured.wall for r in runs])
    recording = median([r.measured.recording for r in runs])
    outcome = median([r.measured.record_outcome for r in runs])
    rss = median([r.measured.peak_rss_mb for r in runs])
    minimum, bound = runs[0].minimum, runs[0].bound
    return (
        f"| {name} | {calls:.0f} ({reads:.0f} reads + {calls - reads:.0f} writes) | {minimum} | "
        f"{calls / minimum:.2f}x | {wall:.1f} s | {bound:.1f} s | {wall / bound:.2f}x | {rss:.0f} MB | "
        f"{outcome:.2f} s = {outcome / wall:.1%} | {recording:.2f} s = {recording / wall:.1%} |"
    )


def goals_met(runs: list[Run]) -> bool:
    wall = median([r.measured.wall for r in runs])
    return (
        all(r.measured.status.startswith("COMPLETED") for r in runs)
        and median([r.calls for r in runs]) <= 1.1 * runs[0].minimum
        and wall <= 2 * runs[0].bound
        and median([r.measured.peak_rss_mb for r in runs]) <= RSS_GOAL_MB
        and median([r.measured.record_outcome for r in runs]) <= RECORDING_GOAL * wall
    )


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_sdk()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)

    new, update = new_pack(), update_pack()
    with tempfile.TemporaryDirectory(prefix="sp-bench-", dir="/tmp") as data_dir:
        server_url = start_embedded_postgres(data_dir)
        running = start_emulator(seed_tables=tables(), config=EmulatorConfig(latency_ms=args.latency_ms))
        control = EmulatorControl(running.url)
        try:
            round_trip = round_trip_seconds(running.url)
            new_runs, update_runs = [], []
            for _ in range(args.runs):
                control.reset()
                database_url = fresh_database(server_url)
                common = {"concurrency": args.concurrency, "round_trip": round_trip}
                new_runs.append(measure(control, database_url, running.url, new, existing_shares=0, **common))
                update_runs.append(
                    measure(control, database_url, running.url, update, existing_shares=len(update.shares), **common)
                )
        finally:
            running.stop()

    summary = update_runs[0].plan.summary()
    swapped = summary.get("data_object_remove", 0) + summary.get("data_object_add", 0)
    print(
        f"Design-scale provisioning: {len(new.recipients)} recipients, {len(new.shares)} shares, "
        f"{sum(len(s.data_objects) for s in new.shares)} data objects; the worker's ProvisioningJob with "
        f"PostgreSQL recording; emulator latency {args.latency_ms} ms per call; concurrency {args.concurrency}; "
        f"one unloaded call takes {round_trip * 1000:.0f} ms (a round of the bound); median of {args.runs} runs.\n"
    )
    print(
        "| run | API calls | minimum | calls / min | wall | critical-path bound | wall / bound | worker peak RSS "
        "| step 8: recording the outcome | all DB writes of the job |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row("NEW (create all)", new_runs))
    print(row(f"UPDATE ({swapped} object changes = 1% of objects swapped)", update_runs))
    for runs in (new_runs, update_runs):
        spent = {name: median([r.measured.timings.get(name, 0.0) for r in runs]) for name in runs[0].measured.timings}
        print(
            f"\nrecording by kind ({runs[0].plan.strategy}): " + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
        )
        for run in runs:
            if not run.measured.status.startswith("COMPLETED"):
                print(f"\nnot completed: {run.measured.status}")
    met = goals_met(new_runs) and goals_met(update_runs)
    print(
        "\ngoals: calls ≤ 1.1x minimum, wall ≤ 2x bound, peak RSS ≤ 500 MB, step 8 ≤ 10% of wall: "
        + ("all met" if met else "GOALS MISSED")
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
