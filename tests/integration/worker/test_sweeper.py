"""The stuck-pack sweeper on real PostgreSQL: what it re-queues, what it leaves alone, and what it records."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from shared.models import AuditEntry, OutboxMessage, SharePack
from shared.models.history import History
from shared.platform.db import lock_key
from shared.platform.status import AuditAction, SharePackStatus
from shared.queue.messages import ProvisionSharePack
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.transitions import Workflow
from tests.support.waiting import wait_for
from worker.jobs.sweep import SWEEP_LOCK_KEY, StuckPackSweeper

QUEUE = "sweeper-tests"


def make_pack(
    session_factory: sessionmaker[Session], status: SharePackStatus = SharePackStatus.IN_PROGRESS
) -> uuid.UUID:
    with session_factory.begin() as session:
        pack = History(session, SharePack).create(
            created_by="tests",
            change_reason="uploaded",
            share_pack_name=f"SharePack_tests_{uuid.uuid4().hex[:8]}",
            share_pack_status=status,
            provisioning_status="Queued for provisioning",
            requested_by="jane.doe@example.com",
            strategy="NEW",
            config={},
            file_format="yaml",
            workspace_url="http://127.0.0.1:1",
            created_at=datetime.now(UTC),
        )
        return pack.share_pack_id


def sweeper(session_factory: sessionmaker[Session], stuck_after_seconds: int = 1) -> StuckPackSweeper:
    published: list[int] = []
    workflow = Workflow(session_factory, ViaOutbox(QUEUE, published.append))
    return StuckPackSweeper(session_factory, workflow, stuck_after_seconds=stuck_after_seconds)


def sweep_until(sweep: StuckPackSweeper, share_pack_id: uuid.UUID, timeout: float = 10) -> None:
    """Sweep until the pack has been idle long enough to be re-queued (fail after `timeout` seconds)."""
    wait_for(lambda: share_pack_id in {r.share_pack_id for r in sweep.sweep_once()}, timeout=timeout,
             what=f"share pack {share_pack_id} to be re-queued", poll_seconds=0.2)


def outbox_messages(session_factory: sessionmaker[Session], share_pack_id: uuid.UUID) -> list[ProvisionSharePack]:
    with session_factory() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.queue_name == QUEUE).order_by(OutboxMessage.id)
        rows = session.scalars(stmt)
        messages = [ProvisionSharePack.from_envelope(row.payload) for row in rows]
    return [m for m in messages if m.share_pack_id == share_pack_id]


@pytest.fixture
def held_lock(queue_engine: Engine) -> Iterator[Callable[[int], None]]:
    """Take an advisory lock on a connection of its own, as a worker (or another sweeper) does."""
    connections: list[Connection] = []

    def hold(key: int) -> None:
        conn = queue_engine.connect()
        connections.append(conn)
        assert conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})

    yield hold
    for conn in connections:
        conn.close()  # a closed session releases its advisory locks


def test_an_idle_pack_nobody_holds_is_requeued_through_the_outbox_and_audited(queue_session_factory):
    share_pack_id = make_pack(queue_session_factory)

    with capture_logs() as logs:
        sweep_until(sweeper(queue_session_factory), share_pack_id)

    [message] = outbox_messages(queue_session_factory, share_pack_id)
    with queue_session_factory() as session:
        pack = History(session, SharePack).get_current(share_pack_id)
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == str(share_pack_id), AuditEntry.entity_type == "share_pack")
        ).one()
    assert pack.version == 2
    assert message.request_id == audit.request_id and message.request_id.startswith("sweep-")
    assert pack.share_pack_status == SharePackStatus.IN_PROGRESS
    assert pack.provisioning_status.startswith("Re-queued: no worker and no queued message for")
    assert audit.action == AuditAction.UPDATED
    assert audit.old_values["provisioning_status"] == "Queued for provisioning"
    assert (audit.old_values["version"], audit.new_values["version"]) == (1, 2)
    assert audit.new_values["requeued"] is True and audit.new_values["idle_seconds"] >= 1
    requeued = [e for e in logs if e["event"] == "sweep.requeued" and e["share_pack_id"] == str(share_pack_id)]
    assert len(requeued) == 1


def test_a_requeue_restarts_the_idle_clock(queue_session_factory):
    share_pack_id = make_pack(queue_session_factory)
    sweep = sweeper(queue_session_factory, stuck_after_seconds=1)
    sweep_until(sweep, share_pack_id)

    assert share_pack_id not in {r.share_pack_id for r in sweep.sweep_once()}
    assert len(outbox_messages(queue_session_factory, share_pack_id)) == 1


def test_a_pack_a_live_worker_holds_is_left_alone(queue_session_factory, held_lock):
    busy, idle = make_pack(queue_session_factory), make_pack(queue_session_factory)
    held_lock(lock_key(busy))

    sweep_until(sweeper(queue_session_factory), idle)  # `idle` is as old as `busy`, so `busy` was a candidate

    assert outbox_messages(queue_session_factory, busy) == []


def test_recent_and_finished_packs_are_left_alone(queue_session_factory):
    recent = make_pack(queue_session_factory)
    finished = make_pack(queue_session_factory, SharePackStatus.COMPLETED)
    failed = make_pack(queue_session_factory, SharePackStatus.FAILED)
    idle = make_pack(queue_session_factory)

    assert recent not in {r.share_pack_id for r in sweeper(queue_session_factory, 3600).sweep_once()}
    sweep_until(sweeper(queue_session_factory), idle)

    for share_pack_id in (finished, failed):
        assert outbox_messages(queue_session_factory, share_pack_id) == []


def test_one_sweep_at_a_time_across_workers(queue_session_factory, held_lock):
    share_pack_id = make_pack(queue_session_factory)
    held_lock(SWEEP_LOCK_KEY)  # another worker's sweep is running

    with capture_logs() as logs:
        assert sweeper(queue_session_factory, 1).sweep_once() == []

    assert [e["event"] for e in logs] == ["sweep.skipped"]
    assert outbox_messages(queue_session_factory, share_pack_id) == []
