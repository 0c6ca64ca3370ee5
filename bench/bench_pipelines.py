"""What pipelines cost provisioning: the plan's read of the workspace, and steps 7-8, against the emulator.

Run: ``.venv/bin/python -m bench.bench_pipelines [--runs 5] [--pipelines 20] [--latency-ms 20]``

An UPDATE of a pack with one share must now also read the pipelines this service made (to remove those
whose table left the share): one list, then a get and a jobs list per pipeline. This measures, in the same
run, the plan's read (``read_state``) for an UPDATE of a one-share pack in a workspace holding no pipelines
(the baseline) and holding ``--pipelines`` of ours, and the calls and wall time of creating that many
pipelines with schedules (steps 7 and 8). Prints medians and the ratio against the baseline.

Steps 7-8 are measured two ways in the same run: as they are (the ids travel in the plan and from step 7
to step 8), and as they were before the ids travelled (`lookup_per_change`: each change looked its
pipeline up by name, list + get + jobs list, and each upload made the source folder again), the baseline
of the calls-per-pipeline ratio. An UPDATE changing every schedule and one dropping every pipeline (with
its job) are counted too.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import start_emulator
from shared.platform.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.diff import make_plan
from shared.provisioning.gateway import DatabricksGateway
from shared.provisioning.pipeline_state import schedule_from
from shared.provisioning.plan import Plan, Section
from shared.provisioning.steps import apply_plan, apply_step
from shared.share_pack_file.model import (
    DataObjectSpec,
    Metadata,
    PipelineSpec,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)


def _calls_of(control: EmulatorControl, gateway: DatabricksGateway) -> Callable[[Plan], int]:
    def count(plan: Plan) -> int:
        """Apply the pipeline steps of ``plan`` (not its share changes); return the calls they made."""
        control.clear_requests()
        apply_plan(Plan(plan.strategy, plan.changes_for(Section.PIPELINES) + plan.changes_for(Section.SCHEDULES)),
                   gateway)
        return len(control.requests())

    return count


def pack(strategy: Strategy, pipelines: int, *, cron: str = "0 0 2 * * ?") -> SharePackSpec:
    tables = [f"sales.reporting.t{i:03}" for i in range(max(pipelines, 1))]
    return SharePackSpec(
        metadata=Metadata("bench@example.com", "bench", "bench", strategy),
        recipients=(RecipientSpec("acme", RecipientType.D2O, email="a@example.com"),),
        shares=(ShareSpec("sales", recipients=("acme",), data_objects=tuple(DataObjectSpec(t) for t in tables)),),
        pipelines=tuple(
            PipelineSpec(f"p{i:03}", source_table=f"raw.sales.t{i:03}", target_table=tables[i], schedule=cron)
            for i in range(pipelines)
        ),
    )


def lookup_per_change(plan: Plan, gateway: DatabricksGateway) -> None:
    """Create the plan's pipelines and schedules the way steps 7-8 did before the ids travelled."""
    for change in plan.changes_for(Section.PIPELINES):
        gateway.find_pipeline(change.name)
        gateway.create_source_folder()  # was made again before every upload
        gateway.create_pipeline(change.pipeline())
    for change in plan.changes_for(Section.SCHEDULES):
        found = gateway.find_pipeline(change.name)
        schedule = schedule_from(change.new)
        assert found is not None and found.pipeline_id is not None and schedule is not None
        gateway.create_schedule(change.name, found.pipeline_id, schedule, tags=found.tags)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    running = start_emulator()
    try:
        control = EmulatorControl(running.url)
        gateway = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN)).gateway(running.url)
        baseline, loaded, create, calls = [], [], [], []
        old_create, old_calls, update_calls, delete_calls = [], [], [], []
        for _ in range(args.runs):
            control.reset()
            control.seed_tables([f"sales.reporting.t{i:03}" for i in range(args.pipelines)])
            control.set_latency(args.latency_ms)
            apply_plan(make_plan(pack(Strategy.NEW, 0), gateway.read_state(pack(Strategy.NEW, 0))), gateway)
            update = pack(Strategy.UPDATE, 0)
            started = time.perf_counter()
            gateway.read_state(update)
            baseline.append(time.perf_counter() - started)

            full = pack(Strategy.NEW, args.pipelines)
            plan = make_plan(full, gateway.read_state(full))
            for section in (Section.RECIPIENTS, Section.SHARES, Section.DATA_OBJECTS, Section.GRANTS):
                apply_step(section, plan, gateway)
            calls_of = _calls_of(control, gateway)
            control.clear_requests()
            started = time.perf_counter()
            lookup_per_change(plan, gateway)
            old_create.append(time.perf_counter() - started)
            old_calls.append(len(control.requests()))
            calls_of(make_plan(pack(Strategy.DELETE, args.pipelines), gateway.read_state(full)))

            plan = make_plan(full, gateway.read_state(full))
            started = time.perf_counter()
            calls.append(calls_of(plan))
            create.append(time.perf_counter() - started)

            started = time.perf_counter()
            gateway.read_state(update)
            loaded.append(time.perf_counter() - started)

            recron = pack(Strategy.UPDATE, args.pipelines, cron="0 0 3 * * ?")
            update_calls.append(calls_of(make_plan(recron, gateway.read_state(recron))))
            # keeps t000 and its pipeline; the other tables leave the share, with their pipelines
            dropped = pack(Strategy.UPDATE, 1, cron="0 0 3 * * ?")
            delete_calls.append(calls_of(make_plan(dropped, gateway.read_state(dropped))) / (args.pipelines - 1))
        b, lo = statistics.median(baseline), statistics.median(loaded)
        print(f"latency {args.latency_ms} ms, {args.pipelines} pipelines, median of {args.runs} runs")
        print(f"| UPDATE plan read, no pipelines (baseline) | {b * 1000:.0f} ms | 1.0x |")
        print(f"| UPDATE plan read, {args.pipelines} pipelines of ours | {lo * 1000:.0f} ms | {lo / b:.1f}x |")
        n, old, new = args.pipelines, statistics.median(old_calls), statistics.median(calls)
        print(f"| steps 7-8, {n} new scheduled pipelines, lookup per change (baseline) | "
              f"{statistics.median(old_create) * 1000:.0f} ms | {old:.0f} calls ({old / n:.2f} per pipeline) | 1.0x |")
        print(f"| steps 7-8, {n} new scheduled pipelines, ids in the plan | {statistics.median(create) * 1000:.0f} ms "
              f"| {new:.0f} calls ({new / n:.2f} per pipeline) | {new / old:.2f}x |")
        print(f"| UPDATE changing every schedule | | {statistics.median(update_calls) / n:.2f} calls per pipeline | |")
        print(f"| UPDATE dropping a table and its scheduled pipeline | | {statistics.median(delete_calls):.2f} calls "
              "per pipeline | |")
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
