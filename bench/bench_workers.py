"""End-to-end worker throughput: share packs through the queue, worker processes and the emulator.

Run: ``.venv/bin/python -m bench.bench_workers [--packs 4] [--latency-ms 50]``

What production runs, on this machine: the embedded PostgreSQL (migrated), Azurite for the queue, the
workspace emulator with a per-call latency, and `python -m worker` processes. Each round stores ``--packs``
share packs the way the API does (`Workflow.submit`: share pack, request, audit and outbox rows in one
transaction), publishes them, and times until every pack is COMPLETED: first with one worker, then with
as many workers as packs. Workers are started and idle before the clock starts. Each pack is the
provisioning benchmark's pack (100 recipients, 50 shares, 5,000 data objects) under its own name prefix.

Goal: N workers on N packs ≥ 3 x the throughput of one worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import text

from bench.bench_provisioning import share_pack, table_names
from dev.emulator.app import EmulatorConfig
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.server import start_emulator
from shared.platform.db import make_engine, make_session_factory
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.queue.azure import AzureStorageQueue
from shared.queue.outbox import OutboxRelay
from shared.share_pack_file.model import Strategy
from shared.share_pack_file.write import to_yaml
from shared.use_cases.submit import UploadRules
from shared.use_cases.transitions import Asker, Workflow
from tests.support.azurite import AzuriteQueueService
from tests.support.postgres import migrated_database_url

ROOT = Path(__file__).resolve().parents[1]


def run_round(
    *, workers: int, packs: int, env: dict[str, str], session_factory, queue: AzureStorageQueue, url: str,
    tag: str, first_index: int,
) -> float:
    """Start `workers` idle workers, submit `packs` packs, and return seconds until all are COMPLETED."""
    processes = [
        subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    time.sleep(4)  # imports and start-up, before the clock
    started = time.perf_counter()
    ids = []
    for index in range(packs):
        content = to_yaml(share_pack(Strategy.NEW, prefix=f"{tag}p{index}-", index=first_index + index)).encode()
        workflow = Workflow(session_factory, queue_name=queue.name, publish=lambda _id: None,
                            rules=UploadRules(max_bytes=50 * 1024 * 1024))
        submitted = workflow.submit(Asker(url, tool="bench"), content, "bench.yaml")
        ids.append(str(submitted.share_pack_id))
    OutboxRelay(session_factory, queue).run_once()
    with session_factory() as session:
        while True:
            rows = session.execute(
                text(
                    "SELECT share_pack_status, error_message FROM deltashare.share_packs "
                    "WHERE is_current AND share_pack_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).all()
            statuses = [row.share_pack_status for row in rows]
            session.rollback()
            if len(statuses) == packs and all(s in ("COMPLETED", "FAILED") for s in statuses):
                break
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)
    failed = [row.error_message for row in rows if row.share_pack_status != "COMPLETED"]
    if failed:
        raise SystemExit(f"{len(failed)} packs did not complete: {failed[0]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packs", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sp-bench-", dir="/tmp") as tmp:
        database_url = migrated_database_url(start_embedded_postgres(Path(tmp) / "pg"), prefix="bench")
        azurite = AzuriteQueueService(Path(tmp) / "azurite")
        azurite.start()
        emulator = start_emulator(seed_tables=table_names(), config=EmulatorConfig(latency_ms=args.latency_ms))
        queue_name = f"bench-{uuid.uuid4().hex[:8]}"
        queue = AzureStorageQueue.from_connection_string(azurite.connection_string, queue_name)
        queue.ensure_exists()
        engine = make_engine(database_url)
        session_factory = make_session_factory(engine)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_"))},
            "DOMAIN_DB_CONNECTION_STRING": database_url,
            "QUEUE_BACKEND": "azure",
            "AZURE_QUEUE_CONNECTION_STRING": azurite.connection_string,
            "AZURE_QUEUE_NAME": queue_name,
            "DEV_WORKSPACE_URLS": emulator.url,
            "DATABRICKS_TOKEN": DEFAULT_TOKEN,
            "ACTIVATION_LINK_KEYS": Fernet.generate_key().decode(),
            "POLL_INTERVAL_SECONDS": "0.1",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        try:
            one = run_round(workers=1, packs=args.packs, env=env, session_factory=session_factory, queue=queue,
                            url=emulator.url, tag="a", first_index=0)
            many = run_round(workers=args.packs, packs=args.packs, env=env, session_factory=session_factory,
                             queue=queue, url=emulator.url, tag="b", first_index=args.packs)
        finally:
            engine.dispose()
            emulator.stop()
            azurite.stop()

    ratio = one / many
    print(f"{args.packs} packs of 100 recipients, 50 shares, 5,000 data objects; emulator latency "
          f"{args.latency_ms} ms; PostgreSQL + Azurite; {os.cpu_count()} cores")
    print(f"1 worker:  {one:6.2f} s  ({args.packs / one:.3f} packs/s)")
    print(f"{args.packs} workers: {many:6.2f} s  ({args.packs / many:.3f} packs/s)")
    print(f"throughput ratio: {ratio:.2f}x (goal >= 3x): {'met' if ratio >= 3 else 'NOT met'}")
    return 0 if ratio >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
