"""The queue loop's mechanics: receive one message, keep it hidden while it is worked on, and settle it.

At-least-once delivery: a message is deleted only after its outcome is recorded. While a job runs, a
heartbeat thread keeps extending the message's visibility (keeping the newest pop receipt). A message seen
more than `max_dequeue_count` times goes to `<queue>-poison`. A job may end in four ways:

* returns: the outcome (COMPLETED or FAILED) is recorded; delete the message.
* `RetryLater`: a transient failure; hide the message for a back-off and let it come again.
* `JobInterrupted`: shutdown was requested between steps; release the message for another worker now.
* any other exception: a bug or an outage; log it and let the visibility timeout re-deliver it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from shared.logging import get_logger
from shared.queue.interface import MessageLost, MessageQueue, QueueMessage
from shared.queue.messages import ProvisionSharePack, UnreadableMessage
from shared.use_cases.provision import JobInterrupted, RetryLater

log = get_logger(__name__)

Job = Callable[[ProvisionSharePack, "Heartbeat"], None]
PoisonHandler = Callable[[ProvisionSharePack | None, str], None]


class Heartbeat:
    """Keeps one message hidden while its job runs, and tells the job when it should stop."""

    def __init__(
        self,
        queue: MessageQueue,
        message: QueueMessage,
        *,
        visibility_timeout: int,
        stop_requested: threading.Event,
    ) -> None:
        self._queue = queue
        self._message = message
        self._timeout = visibility_timeout
        self._stop_requested = stop_requested
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._beat, name="visibility-heartbeat", daemon=True)

    @property
    def message(self) -> QueueMessage:
        with self._lock:
            return self._message

    @property
    def lost(self) -> bool:
        """True when another consumer took the message over (our pop receipt went stale)."""
        return self._lost

    def should_stop(self) -> bool:
        """Checked by the job between steps: shutdown requested, or the message is no longer ours."""
        return self._stop_requested.is_set() or self._lost

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = max(self._timeout / 3, 0.2)
        while not self._done.wait(interval):
            try:
                with self._lock:
                    self._message = self._queue.extend(self._message, visibility_timeout=self._timeout)
            except MessageLost:
                log.warning("queue.message_lost")
                self._lost = True
                return
            except Exception:  # a queue hiccup: try again at the next beat, well within the timeout
                log.warning("queue.heartbeat_failed", exc_info=True)


@dataclass
class QueueConsumer:
    """Receives and settles messages of one queue; poisons those that keep failing."""

    queue: MessageQueue
    poison_queue: MessageQueue
    visibility_timeout: int
    max_dequeue_count: int
    on_poison: PoisonHandler
    stop_requested: threading.Event

    def process_next(self, job: Job) -> bool:
        """Handle at most one message; return False when the queue was empty."""
        message = self.queue.receive(visibility_timeout=self.visibility_timeout)
        if message is None:
            return False
        with structlog.contextvars.bound_contextvars(
            message_id=message.id, dequeue_count=message.dequeue_count
        ):
            self._handle(message, job)
        return True

    def _handle(self, message: QueueMessage, job: Job) -> None:
        try:
            command = ProvisionSharePack.from_json(message.content)
        except UnreadableMessage as exc:
            self._poison(message, None, f"Unreadable queue message: {exc}")
            return
        if message.dequeue_count > self.max_dequeue_count:
            self._poison(
                message, command, f"Gave up after {message.dequeue_count - 1} attempts (max_dequeue_count)"
            )
            return
        with structlog.contextvars.bound_contextvars(
            share_pack_id=str(command.share_pack_id), request_id=command.request_id
        ):
            heartbeat = Heartbeat(
                self.queue,
                message,
                visibility_timeout=self.visibility_timeout,
                stop_requested=self.stop_requested,
            )
            try:
                with heartbeat:
                    job(command, heartbeat)
            except RetryLater as exc:
                log.info("queue.retry_later", delay_seconds=exc.delay_seconds, reason=exc.message)
                delay = exc.delay_seconds
                self._settle(lambda m: self.queue.extend(m, visibility_timeout=delay), heartbeat)
                return
            except JobInterrupted:
                log.info("queue.message_released")
                self._settle(self.queue.release, heartbeat)
                return
            except Exception:
                log.exception("queue.job_crashed")
                return
            self._settle(self.queue.delete, heartbeat)

    def _settle(self, action: Callable[[QueueMessage], object], heartbeat: Heartbeat) -> None:
        if heartbeat.lost:
            return  # another consumer holds it now; it is theirs to settle
        try:
            action(heartbeat.message)
        except MessageLost:
            log.warning("queue.message_lost_at_settle")

    def _poison(self, message: QueueMessage, command: ProvisionSharePack | None, reason: str) -> None:
        # Record first: if that fails the message stays, comes back, and is poisoned again.
        self.on_poison(command, reason)
        self.poison_queue.send(message.content)
        try:
            self.queue.delete(message)
        except MessageLost:
            log.warning("queue.message_lost_at_settle")
        log.error("queue.message_poisoned", reason=reason)
