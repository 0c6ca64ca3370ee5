"""Outages are waited out, not turned into FAILED: a workspace answering 503 for longer than the crash budget,
and PostgreSQL stopped in the middle of a pack for longer than it. Real worker process, Azurite, emulator,
PostgreSQL.

Delays are configured short (the backoff's base and cap in seconds), so a storm that would last many minutes
in production takes seconds here; what matters is that it outlasts `max_dequeue_count` attempts.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pgserver
import pytest
from pgserver._commands import pg_ctl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from shared.models import AuditEntry, DatabricksObject, Recipient, Share
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.queue.azure import AzureStorageQueue
from shared.queue.factory import poison_queue_name
from shared.queue.interface import MessageQueue
from shared.queue.postgres import PostgresQueue
from tests.e2e.test_provisioning import pack, workspace
from tests.support.postgres import migrated_database_url
from tests.support.waiting import wait_for

MAX_DEQUEUE_COUNT = 3
SHORT_BACKOFF = {
    "MAX_DEQUEUE_COUNT": str(MAX_DEQUEUE_COUNT),
    "DATABRICKS_RETRY_TIMEOUT_SECONDS": "1",  # each attempt gives up on the workspace fast
    "TRANSIENT_RETRY_DELAY_SECONDS": "1",
    "TRANSIENT_RETRY_MAX_DELAY_SECONDS": "4",
}
OUTAGE_SECONDS = 120  # the longest the outage may take to outlast the crash budget


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of one test's own, which the test may stop and start again (same data, same socket)."""

    server: pgserver.PostgresServer
    url: str

    def stop(self) -> None:
        # Fast shutdown: open sessions are terminated, as when a database host goes away for maintenance.
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Unix socket paths are limited to ~100 bytes: keep the directory short.
    with tempfile.TemporaryDirectory(prefix="sp-pgo-", dir="/tmp") as data_dir:
        url = start_embedded_postgres(data_dir)
        private = PrivatePostgres(server=pgserver.get_server(Path(data_dir)), url=url)
        yield private
        private.start()  # a failed test may have left it stopped; the handle's cleanup stops it for good
        private.server.cleanup()


@pytest.fixture
def e2e_database_url(request: pytest.FixtureRequest) -> str:
    """This test's own database: on the suite's server, or (param "private") on a server it may stop."""
    if getattr(request, "param", "shared") == "private":
        server_url = request.getfixturevalue("private_postgres").url
    else:
        server_url = request.getfixturevalue("postgres_server_url")
    url = migrated_database_url(server_url, prefix="e2e")
    return url


def log_events(stack, event: str) -> list[dict]:
    """The worker's JSON log lines for `event`."""
    entries = []
    for line in stack.worker_logs().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                entries.append(entry)
    return entries


def poison_queue(stack, engine: Engine) -> MessageQueue:
    name = poison_queue_name(stack.queue.name)
    if isinstance(stack.queue, PostgresQueue):
        return PostgresQueue(engine, name)
    return AzureStorageQueue.from_connection_string(stack.worker_env["AZURE_QUEUE_CONNECTION_STRING"], name)


@pytest.mark.parametrize("queue_backend", ["azure", "postgres"])
def test_a_503_storm_longer_than_the_crash_budget_is_waited_out_and_the_pack_completes(stack, engine):
    stack.emulator.inject_fault(
        path_regex="^/api/", status=503, error_code="TEMPORARILY_UNAVAILABLE",
        message="The service is temporarily unavailable", retry_after=2, times=None,
    )
    stack.start_worker(**SHORT_BACKOFF)
    share_pack_id = stack.upload(pack())

    def retries() -> int:
        return sum("will be retried" in (v["ProvisioningStatus"] or "") for v in stack.history(share_pack_id))

    # Twice as many failed attempts as the crash budget allows: the old consumer had failed the pack by now.
    wait_for(lambda: retries() > 2 * MAX_DEQUEUE_COUNT, timeout=120, what="the pack to be retried 7 times",
             poll_seconds=0.5)
    assert stack.status(share_pack_id)["Status"] == "IN_PROGRESS"
    stack.emulator.clear_faults()

    final = stack.wait_final(share_pack_id, timeout=60)
    assert final["Status"] == "COMPLETED", final
    ws = workspace(stack)
    assert set(ws.recipients) == {"acme-analytics", "partner-lakehouse"}
    assert ws.objects == {
        "sales-share": {"sales.reporting.orders", "sales.reporting.customers"},
        "finance-share": {"finance.ledger.entries"},
    }
    waits = log_events(stack, "queue.retry_later")
    assert len(waits) > 2 * MAX_DEQUEUE_COUNT
    assert all(w["retry_after_seconds"] == 2 and w["delay_seconds"] >= 2 for w in waits)  # Retry-After honoured
    assert [w["attempt"] for w in waits] == list(range(1, len(waits) + 1))  # one transient record, carried on
    assert poison_queue(stack, engine).approximate_count() == 0


@pytest.mark.parametrize("queue_backend", ["azure", "postgres"])
@pytest.mark.parametrize("e2e_database_url", ["private"], indirect=True)
def test_postgresql_stopped_past_the_crash_budget_mid_pack_then_the_pack_completes_with_nothing_duplicated(
    stack, engine, private_postgres, queue_backend
):
    tables = [f"sales.reporting.t{i:03d}" for i in range(250)]
    stack.emulator.seed_tables(tables)
    stack.emulator.set_latency(150)  # object batches take long enough to stop the database inside step 5
    many = "\n".join(f"      - {t}" for t in tables)
    shares = f"\n  - name: big-share\n    recipients: [acme-analytics]\n    data_objects:\n{many}\n"
    recipients = "\n  - name: acme-analytics\n    type: D2O\n    email: data@acme.example.com\n"
    stack.start_worker(**SHORT_BACKOFF)
    share_pack_id = stack.upload(pack(recipients=recipients, shares=shares))
    stack.wait_for(share_pack_id, lambda s: (s["ProvisioningStatus"] or "").startswith("Step 5/8"), timeout=60)

    def failed_attempts() -> int:
        if queue_backend == "azure":  # the queue is up: each attempt fails on the database and backs off
            return sum(1 for w in log_events(stack, "queue.retry_later") if "Database unavailable" in w["reason"])
        # the queue is in the stopped database: the loop itself fails and backs off until it is back
        return len(log_events(stack, "worker.loop_failed"))

    private_postgres.stop()
    # The outage lasts until the worker has kept trying more often than the crash budget would allow (what
    # the scenario needs; a minute by the clock made it the suite's slowest test, to no further purpose).
    wait_for(lambda: failed_attempts() > MAX_DEQUEUE_COUNT, timeout=OUTAGE_SECONDS, what="the worker to retry "
             f"more than {MAX_DEQUEUE_COUNT} times while the database is down", poll_seconds=0.5)
    private_postgres.start()

    stack.emulator.set_latency(0)
    final = stack.wait_final(share_pack_id, timeout=120)
    assert final["Status"] == "COMPLETED", final

    ws = workspace(stack)
    assert ws.objects == {"big-share": set(tables)}
    assert set(ws.recipients) == {"acme-analytics"}
    # Databricks saw each create once and each object added once.
    ok = [r for r in stack.emulator.requests() if r["status"] == 200]
    assert sum(1 for r in ok if r["method"] == "POST" and r["path"].endswith("/recipients")) == 1
    assert sum(1 for r in ok if r["method"] == "POST" and r["path"].endswith("/shares")) == 1
    added = Counter(
        update["data_object"]["name"]
        for r in ok
        if r["method"] == "PATCH" and r["path"].endswith("/shares/big-share")
        for update in (r["body"] or {}).get("updates", [])
        if update.get("action") == "ADD"
    )
    assert set(added) == set(tables) and set(added.values()) == {1}
    # The database holds one current row per object and at most one creation record for each.
    url = stack.emulator.url
    with sessionmaker(engine)() as session:
        assert session.scalar(
            select(func.count()).select_from(Share).where(Share.is_current, Share.workspace_url == url)
        ) == 1
        assert session.scalar(
            select(func.count()).select_from(Recipient).where(Recipient.is_current, Recipient.workspace_url == url)
        ) == 1
        objects = session.scalars(
            select(DatabricksObject.full_name).where(DatabricksObject.is_current, DatabricksObject.workspace_url == url)
        ).all()
        assert sorted(objects) == sorted(tables)
        created = Counter(
            session.scalars(
                select(AuditEntry.entity_id).where(
                    AuditEntry.entity_id.like(f"{url}/big-share/%"), AuditEntry.action == "CREATED"
                )
            ).all()
        )
        assert created and set(created.values()) == {1}
    assert poison_queue(stack, engine).approximate_count() == 0


def test_a_pack_whose_message_was_lost_is_requeued_by_the_sweeper_and_completes(stack):
    share_pack_id = stack.upload(pack())
    lost = None
    deadline = time.monotonic() + 30
    while lost is None and time.monotonic() < deadline:  # the API's publisher sends the upload's message
        lost = stack.queue.receive(visibility_timeout=30)
        time.sleep(0.2)
    assert lost is not None and share_pack_id in lost.content
    stack.queue.delete(lost)  # gone, as if a queue had lost it: nothing would ever finish the pack

    stack.start_worker(
        STUCK_PACK_AFTER_SECONDS="8",  # the shortest Settings allows here: retry delays + visibility timeout
        STUCK_PACK_SWEEP_INTERVAL_SECONDS="1",
        TRANSIENT_RETRY_MAX_DELAY_SECONDS="1",
        BUSY_RETRY_DELAY_SECONDS="1",
    )
    final = stack.wait_final(share_pack_id, timeout=90)

    assert final["Status"] == "COMPLETED", final
    statuses = [v["ProvisioningStatus"] or "" for v in stack.history(share_pack_id)]
    assert sum(s.startswith("Re-queued: no worker and no queued message") for s in statuses) == 1
    assert [e["share_pack_id"] for e in log_events(stack, "sweep.requeued")] == [share_pack_id]
