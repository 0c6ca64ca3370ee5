"""The transactional outbox: no upload is ever lost, even when the queue is down.

The API writes the message into `workflow_runtime.outbox` in the same transaction as the share pack
(`add_to_outbox`), commits, and hands the row id to its `OutboxPublisher`, a background thread that sends
it at once, so a request never waits on the queue. If sending fails the row stays unpublished and the relay
(`publish_pending`, swept by the publisher and looped by `OutboxRelay` in the worker) sends it once the
queue answers.

Delivery is at-least-once: a crash between sending and recording `published_at` sends the message again
later. That is harmless because messages are ids and the worker is idempotent. Losing one is not possible:
a row is only marked published after the queue accepted its message.
"""

from __future__ import annotations

import functools
import json
import queue as local_queue
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.models.runtime import OutboxMessage
from shared.platform.errors import ServiceUnavailable
from shared.platform.logging import get_logger, mask_secrets
from shared.queue.interface import MessageQueue
from shared.queue.messages import ProvisionSharePack

log = get_logger(__name__)

_LAST_ERROR_MAX_CHARS = 1000


def add_to_outbox(session: Session, *, queue_name: str, message: ProvisionSharePack) -> OutboxMessage:
    """Record `message` for `queue_name` in the caller's transaction (flushes for the id, never commits)."""
    row = OutboxMessage(queue_name=queue_name, payload=message.to_envelope())
    session.add(row)
    session.flush()
    return row


def publish_pending(
    session_factory: sessionmaker[Session],
    queue: MessageQueue,
    *,
    limit: int = 100,
    only: Collection[int] | None = None,
) -> int:
    """Send up to `limit` unpublished rows of `queue`, oldest first; return how many were published.

    Rows are locked with SKIP LOCKED, so any number of relays (API
    processes, workers) may run at once without sending a row twice. The first failure stops the batch:
    the queue is most likely down, and the next run tries again. Database errors propagate. `only`
    restricts the batch to those row ids (the publisher's fresh rows).
    """
    parameters: dict[str, object] = {"queue_name": queue.name, "limit": limit}
    if only is not None:
        parameters["only"] = list(only)
    published = 0
    with session_factory.begin() as session:
        for row in session.scalars(_pending_statement(only is not None), parameters):
            if not _publish_row(row, queue):
                break
            published += 1
    if published:
        log.info("outbox.published", count=published)
    return published


@functools.cache
def _pending_statement(only: bool) -> Select[tuple[OutboxMessage]]:
    """`publish_pending`'s claim, built once: the publisher runs it after every upload, and building it cost
    more CPU than running it."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.published_at.is_(None), OutboxMessage.queue_name == bindparam("queue_name"))
        .order_by(OutboxMessage.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return stmt.where(OutboxMessage.id.in_(bindparam("only", expanding=True))) if only else stmt


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
    """Publishes what the publisher could not send: a loop meant for a daemon thread (the worker runs one).

    Run it in as many processes as you like (rows are claimed with SKIP LOCKED). `run_forever` returns
    when `stop_event` is set; errors (database down) are logged and retried at the next interval.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        queue: MessageQueue,
        *,
        batch_size: int = 100,
    ) -> None:
        self._session_factory = session_factory
        self._queue = queue
        self._batch_size = batch_size

    def run_once(self) -> int:
        """Publish batches until the backlog is empty or a send fails; return how many were published."""
        total = 0
        while True:
            published = publish_pending(self._session_factory, self._queue, limit=self._batch_size)
            total += published
            if published < self._batch_size:
                return total

    def run_forever(self, stop_event: threading.Event, interval: float) -> None:
        """Call `run_once` every `interval` seconds until `stop_event` is set; purge old rows hourly."""
        log.info("outbox.relay_started", interval=interval)
        next_purge = 0.0
        while not stop_event.is_set():
            try:
                self.run_once()
                if time.monotonic() >= next_purge:
                    purge_published(self._session_factory)
                    next_purge = time.monotonic() + 3600
            except Exception:
                log.warning("outbox.relay_failed", exc_info=True)
            stop_event.wait(interval)
        log.info("outbox.relay_stopped")


def purge_published(session_factory: sessionmaker[Session], *, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete outbox rows published more than `older_than` ago; return how many.

    Published rows are only kept for troubleshooting (when was a pack's message sent); the share pack's
    own history is the record. Unpublished rows are never deleted, however old.
    """
    with session_factory.begin() as session:
        deleted = session.execute(
            delete(OutboxMessage).where(OutboxMessage.published_at < datetime.now(UTC) - older_than)
        ).rowcount
    if deleted:
        log.info("outbox.purged", count=deleted)
    return deleted


_WAKE_UP = -1  # not a row id (ids start at 1): tells the publisher thread to look at its stop flag


class OutboxPublisher:
    """Sends freshly committed outbox rows from a background thread, in batches, and sweeps leftovers.

    A request thread only calls `notify(outbox_id)` after its commit and returns at once. The thread
    sends whatever ids have gathered (one transaction per batch), and every `sweep_interval` seconds runs
    the relay over all unpublished rows of its queue, so rows whose send failed (queue down) or whose
    process died before sending are published too. Ids still in memory when the process stops are not
    lost: their rows are unpublished, and the next sweep here or in any other process sends them.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        queue: MessageQueue,
        *,
        sweep_interval: float,
        batch_size: int = 100,
    ) -> None:
        self._session_factory = session_factory
        self._queue = queue
        self._sweep_interval = sweep_interval
        self._batch_size = batch_size
        self._ids: local_queue.SimpleQueue[int] = local_queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)

    def start(self) -> OutboxPublisher:
        self._thread.start()
        return self

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._ids.put(_WAKE_UP)
        self._thread.join(timeout)

    def notify(self, outbox_id: int) -> None:
        """Hand over a committed outbox row for sending (never blocks, never raises)."""
        self._ids.put(outbox_id)

    def _run(self) -> None:
        relay = OutboxRelay(self._session_factory, self._queue, batch_size=self._batch_size)
        while not self._stop.is_set():
            try:
                first = self._ids.get(timeout=self._sweep_interval)
            except local_queue.Empty:
                self._guarded(relay.run_once)
                continue
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._ids.get_nowait())
                except local_queue.Empty:
                    break
            batch = [outbox_id for outbox_id in batch if outbox_id != _WAKE_UP]
            if not batch:
                continue
            self._guarded(lambda b=batch: publish_pending(self._session_factory, self._queue, limit=len(b), only=b))

    @staticmethod
    def _guarded(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception:  # database down: the rows are safe in the outbox; the next sweep retries
            log.warning("outbox.publisher_failed", exc_info=True)
