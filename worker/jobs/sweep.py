"""The stuck-pack sweeper: a share pack IN_PROGRESS that nobody works on and nothing will wake is queued again.

A pack can be left IN_PROGRESS with no message to finish it: a message deleted by mistake, lost with a
queue, expired (Azure drops messages after their time-to-live, 7 days by default), or a worker that lost
its message while another one dropped it. The sweeper finds such packs and re-queues them through the
outbox (`shared.use_cases.versions.Requeuer`), exactly as an upload is queued, so a queue outage cannot
lose the re-queue either.

How "nobody works on it and nothing will wake it" is known without searching the queue (an Azure queue
cannot be searched by content):

* no live worker: the pack's advisory lock is free. A worker holds it, on its own connection, for the
  whole job, and PostgreSQL drops it when that connection dies. The sweeper takes the same lock for the
  duration of its transaction (`pg_try_advisory_xact_lock`), so no worker can start the pack meanwhile.
* no message on its way: the pack has not changed for `stuck_after_seconds`. Every attempt writes a new
  version of the pack at its first step, and a message waits at most the longest retry delay plus a
  visibility timeout between attempts; `Settings` refuses a `stuck_after_seconds` shorter than that.
  A message still waiting behind a long backlog may be duplicated: harmless, since the job is idempotent
  and locked (the second message finds the pack finished and is deleted).

Each re-queue writes a new version of the pack (its provisioning status says why, and the idle clock
restarts), an `audit_trail` row and a log line. Several workers may run the sweeper: a sweep-wide
advisory lock lets one sweep at a time.

Why it runs in the worker: it re-queues for the worker (its delays come from the worker's retry policy),
and only worker processes hold pack locks; the sync service does not need it. The move itself is the
workflow's (`shared.use_cases.versions.Requeuer`, through the one function that versions and queues a
pack); this module sees it only through the `Requeuer` protocol, and the worker loads no upload validation.
One caveat for deployments that scale workers to zero on queue length: while no message is queued no
worker runs, so a pack whose message was lost would wait for the next message to start a worker; hence
`deploy/azure` keeps one worker replica running.
"""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.models import SharePack
from shared.platform.db import lock_key
from shared.platform.errors import Conflict
from shared.platform.logging import get_logger
from shared.platform.status import SharePackStatus
from shared.use_cases.idempotency import prune_expired

log = get_logger(__name__)

# One advisory lock key for "a sweep is running" (any fixed bigint no share pack key is likely to equal:
# pack keys are the first 8 bytes of a random UUID). The ASCII of "SWEEPER!".
SWEEP_LOCK_KEY = int.from_bytes(b"SWEEPER!", "big", signed=True)


class Requeuer(Protocol):
    """Queues a pack again in the caller's transaction (`versions.Requeuer`); raises Conflict if it changed."""

    def requeue(self, session: Session, share_pack_id: uuid.UUID, version: int, tool: str) -> int: ...


@dataclass(frozen=True)
class Requeued:
    """One pack the sweeper queued again, and how long it had been idle."""

    share_pack_id: uuid.UUID
    idle_seconds: int


class StuckPackSweeper:
    """Finds packs IN_PROGRESS with no live worker and no recent change, and queues them again."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        workflow: Requeuer,
        *,
        stuck_after_seconds: int,
        batch_size: int = 100,
        performed_by: str = f"sweeper@{socket.gethostname()}",
    ) -> None:
        self._session_factory = session_factory
        self._workflow = workflow
        self._stuck_after = timedelta(seconds=stuck_after_seconds)
        self._batch_size = batch_size
        self._performed_by = performed_by

    def sweep_once(self) -> list[Requeued]:
        """Re-queue up to `batch_size` stuck packs; return them (empty when another sweep is running)."""
        with self._session_factory.begin() as session:
            if not session.scalar(select(func.pg_try_advisory_xact_lock(SWEEP_LOCK_KEY))):
                log.info("sweep.skipped", reason="another worker is sweeping")
                return []
            requeued = [
                done
                for share_pack_id, version in self._idle_packs(session)
                if (done := self._requeue(session, share_pack_id, version)) is not None
            ]
            pruned = prune_expired(session)  # idempotency keys past their retention: housekeeping of the same kind
        log.info("sweep.finished", requeued=len(requeued), idempotency_keys_pruned=pruned)
        return requeued

    def run_forever(self, stop_event: threading.Event, interval: float) -> None:
        """Sweep every `interval` seconds until `stop_event` is set; errors (database down) wait for the next."""
        log.info("sweep.started", interval=interval)
        while not stop_event.wait(interval):
            try:
                self.sweep_once()
            except Exception:
                log.warning("sweep.failed", exc_info=True)
        log.info("sweep.stopped")

    def _idle_packs(self, session: Session) -> list[tuple[uuid.UUID, int]]:
        """Current IN_PROGRESS packs unchanged for `stuck_after`, by the database clock, oldest first."""
        stmt = (
            select(SharePack.share_pack_id, SharePack.version)
            .where(
                SharePack.is_current,
                SharePack.share_pack_status == SharePackStatus.IN_PROGRESS,
                SharePack.effective_from < func.now() - self._stuck_after,
            )
            .order_by(SharePack.effective_from)
            .limit(self._batch_size)
        )
        return [(row.share_pack_id, row.version) for row in session.execute(stmt)]

    def _requeue(self, session: Session, share_pack_id: uuid.UUID, version: int) -> Requeued | None:
        """Queue one idle pack again, unless a worker holds it or changed it since it was selected."""
        if not session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(share_pack_id)))):
            return None  # a live worker is on it
        try:
            with session.begin_nested():
                idle_seconds = self._workflow.requeue(session, share_pack_id, version, self._performed_by)
        except Conflict:
            return None  # changed since we looked: something is working on it
        return Requeued(share_pack_id=share_pack_id, idle_seconds=idle_seconds)
