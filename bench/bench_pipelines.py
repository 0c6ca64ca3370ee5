"""What pipelines cost provisioning: the plan's read of the workspace, and steps 7-8, against the emulator.

Run: ``.venv/bin/python bench/bench_pipelines.py [--runs 5] [--pipelines 20] [--latency-ms 20]``

An UPDATE of a pack with one share must now also read the pipelines this service made (to remove those
whose table left the share): one list, then a get and a jobs list per pipeline. This measures, in the same
run, the plan's read (``read_state``) for an UPDATE of a one-share pack in a workspace holding no pipelines
(the baseline) and holding ``--pipelines`` of ours, and the calls and wall time of creating that many
pipelines with schedules (steps 7 and 8). Prints medians and the ratio against the baseline.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from emulator.auth import DEFAULT_TOKEN
from emulator.control import EmulatorControl
from emulator.server import start_emulator
from shared.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.plan import Section, make_plan
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


def pack(strategy: Strategy, pipelines: int) -> SharePackSpec:
    tables = [f"sales.reporting.t{i:03}" for i in range(max(pipelines, 1))]
    return SharePackSpec(
        metadata=Metadata("bench@example.com", "bench", "bench", strategy),
        recipients=(RecipientSpec("acme", RecipientType.D2O, email="a@example.com"),),
        shares=(ShareSpec("sales", recipients=("acme",), data_objects=tuple(DataObjectSpec(t) for t in tables)),),
        pipelines=tuple(
            PipelineSpec(f"p{i:03}", source_table=f"raw.sales.t{i:03}", target_table=tables[i], schedule="0 0 2 * * ?")
            for i in range(pipelines)
        ),
    )


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
            control.clear_requests()
            started = time.perf_counter()
            apply_step(Section.PIPELINES, plan, gateway)
            apply_step(Section.SCHEDULES, plan, gateway)
            create.append(time.perf_counter() - started)
            calls.append(len(control.requests()))

            started = time.perf_counter()
            gateway.read_state(update)
            loaded.append(time.perf_counter() - started)
        b, lo = statistics.median(baseline), statistics.median(loaded)
        print(f"latency {args.latency_ms} ms, {args.pipelines} pipelines, median of {args.runs} runs")
        print(f"| UPDATE plan read, no pipelines (baseline) | {b * 1000:.0f} ms | 1.0x |")
        print(f"| UPDATE plan read, {args.pipelines} pipelines of ours | {lo * 1000:.0f} ms | {lo / b:.1f}x |")
        print(f"| steps 7-8 for {args.pipelines} scheduled pipelines | {statistics.median(create) * 1000:.0f} ms, "
              f"{statistics.median(calls):.0f} calls ({statistics.median(calls) / args.pipelines:.1f} per pipeline) |")
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
