"""The transactional outbox: no upload is ever lost, even when the queue is down.

The API writes the message into `workflow_runtime.outbox` in the same transaction as the share pack
(`add_to_outbox`), commits, then tries to send it at once (`publish_now`). If that fails the row stays
unpublished and the relay (`publish_pending`, looped by `OutboxRelay`) sends it once the queue answers.

Delivery is at-least-once: a crash between sending and recording `published_at` sends the message again
later. That is harmless because messages are ids and the worker is idempotent. Losing one is not possible:
a row is only marked published after the queue accepted its message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import ServiceUnavailable
from shared.logging import get_logger, mask_secrets
from shared.models.runtime import OutboxMessage
from shared.queue.interface import MessageQueue
from shared.queue.messages import ProvisionSharePack

log = get_logger(__name__)

QueueResolver = Callable[[str], MessageQueue]
"""Returns the queue for a queue name (e.g. `lambda name: make_queue(settings, engine, name=name)`)."""

_LAST_ERROR_MAX_CHARS = 1000


def add_to_outbox(session: Session, *, queue_name: str, message: ProvisionSharePack) -> OutboxMessage:
    """Record `message` for `queue_name` in the caller's transaction (flushes for the id, never commits)."""
    row = OutboxMessage(queue_name=queue_name, payload=message.to_envelope())
    session.add(row)
    session.flush()
    return row


def publish_now(session_factory: sessionmaker[Session], queue: MessageQueue, outbox_id: int) -> bool:
    """Send one committed outbox row right away; True once it is published.

    Best effort, for the API right after its commit: never raises. False means the row is left for the
    relay (queue down, database hiccup, or another publisher holding the row at this moment).
    """
    try:
        with session_factory.begin() as session:
            stmt = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
            row = session.scalars(stmt.with_for_update(skip_locked=True)).one_or_none()
            if row is None:  # locked by a relay that is sending it now (or an unknown id)
                return False
            if row.published_at is not None:
                return True
            if row.queue_name != queue.name:
                log.warning("outbox.queue_mismatch", outbox_id=outbox_id, row_queue=row.queue_name, queue=queue.name)
                return False
            return _publish_row(row, queue)
    except Exception:  # the upload is already committed: whatever failed here, the relay will retry
        log.warning("outbox.publish_now_failed", outbox_id=outbox_id, exc_info=True)
        return False


def publish_pending(
    session_factory: sessionmaker[Session], queues: MessageQueue | QueueResolver, *, limit: int = 100
) -> int:
    """Send up to `limit` unpublished rows, oldest first; return how many were published.

    `queues` is either one queue (then only rows for that queue are considered) or a function returning
    the queue for a row's `queue_name`. Rows are locked with SKIP LOCKED, so any number of relays (API
    processes, workers) may run at once without sending a row twice. The first failure stops the batch:
    the queue is most likely down, and the next run tries again. Database errors propagate.
    """
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.published_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if isinstance(queues, MessageQueue):
        stmt = stmt.where(OutboxMessage.queue_name == queues.name)
    published = 0
    with session_factory.begin() as session:
        for row in session.scalars(stmt):
            queue = queues if isinstance(queues, MessageQueue) else queues(row.queue_name)
            if not _publish_row(row, queue):
                break
            published += 1
    if published:
        log.info("outbox.published", count=published)
    return published


def _publish_row(row: OutboxMessage, queue: MessageQueue) -> bool:
    """Send the row's message and mark it published, or record the failure on the row; True on success.

    The caller's transaction holds the row lock and commits either outcome.
    """
    try:
        queue.send(json.dumps(row.payload, separators=(",", ":")))
    except ServiceUnavailable as exc:
        _record_failure(row, exc.message)
        log.warning("outbox.queue_unavailable", outbox_id=row.id, queue=queue.name, attempts=row.attempts)
        return False
    except Exception as exc:  # a bug or an unexpected SDK error: keep the row and say why
        _record_failure(row, f"{type(exc).__name__}: {exc}")
        log.exception("outbox.publish_failed", outbox_id=row.id, queue=queue.name)
        return False
    row.published_at = datetime.now(UTC)
    return True


def _record_failure(row: OutboxMessage, reason: str) -> None:
    row.attempts += 1
    row.last_error = mask_secrets(reason)[:_LAST_ERROR_MAX_CHARS]


class OutboxRelay:
    """Publishes what `publish_now` could not: a loop meant for a daemon thread of the API or the worker.

    Run it in as many processes as you like (rows are claimed with SKIP LOCKED). `run_forever` returns
    when `stop_event` is set; errors (database down) are logged and retried at the next interval.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        queues: MessageQueue | QueueResolver,
        *,
        batch_size: int = 100,
    ) -> None:
        self._session_factory = session_factory
        self._queues = queues
        self._batch_size = batch_size

    def run_once(self) -> int:
        """Publish batches until the backlog is empty or a send fails; return how many were published."""
        total = 0
        while True:
            published = publish_pending(self._session_factory, self._queues, limit=self._batch_size)
            total += published
            if published < self._batch_size:
                return total

    def run_forever(self, stop_event: threading.Event, interval: float) -> None:
        """Call `run_once` every `interval` seconds until `stop_event` is set."""
        log.info("outbox.relay_started", interval=interval)
        while not stop_event.is_set():
            try:
                self.run_once()
            except Exception:
                log.warning("outbox.relay_failed", exc_info=True)
            stop_event.wait(interval)
        log.info("outbox.relay_stopped")
