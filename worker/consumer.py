"""The queue loop's mechanics: receive one message, keep it hidden while it is worked on, and settle it.

At-least-once delivery: a message is deleted only after its outcome is recorded. While a job runs, a
`MessageLease` keeps extending the message's visibility (keeping the newest pop receipt). A job may end
in five ways:

* returns: the outcome (COMPLETED or FAILED) is recorded; delete the message.
* `SharePackBusy`: another worker holds the pack; come back after about `busy_delay_seconds`, without
  counting a failure of any kind (the holder may yet lose its message, and then this one finishes the pack).
* `RetryLater`, or the database or queue unreachable: a transient failure, waited out with exponential
  backoff (see `retry_policy`). Until the transient budget (time) is spent, the pack is not failed.
* `ProvisioningInterrupted`: shutdown was requested between steps; release the message for another worker now.
* any other exception: a crash (a bug); log it and let the visibility timeout re-deliver the message.

Two budgets, so that waiting out an outage never poisons a pack: crashes spend the queue's dequeue count
(more than `max_dequeue_count` deliveries and the message goes to `<queue>-poison`); transient failures
and busy packs do not, because they are settled by sending a successor message (carrying the transient
record: attempts and first failure time) with a visibility delay and deleting the current one. If the
current message cannot be deleted, the successor is a duplicate: harmless, since the job is idempotent
and two workers never run one pack at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from shared.platform import tracing
from shared.platform.db import is_database_unavailable
from shared.platform.errors import ServiceUnavailable
from shared.platform.logging import get_logger
from shared.queue.interface import MessageLost, MessageQueue, QueueMessage
from shared.queue.messages import ProvisionSharePack, UnreadableMessage
from worker.jobs.provision import ProvisioningInterrupted, RetryLater, SharePackBusy
from worker.retry_policy import RetryPolicy

log = get_logger(__name__)

Job = Callable[[ProvisionSharePack, "MessageLease"], None]
PoisonHandler = Callable[[ProvisionSharePack | None, str], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class MessageLease:
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

    def __enter__(self) -> MessageLease:
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
    retry_policy: RetryPolicy
    clock: Clock = field(default=utc_now)

    def process_next(self, job: Job) -> bool:
        """Handle at most one message; return False when the queue was empty."""
        message = self.queue.receive(visibility_timeout=self.visibility_timeout)
        if message is None:
            return False
        log.info("Received 1 message(s)", count=1)
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
            log.info(f"Processing share pack: {command.share_pack_id}")
            lease = MessageLease(
                self.queue,
                message,
                visibility_timeout=self.visibility_timeout,
                stop_requested=self.stop_requested,
            )
            try:
                with lease, tracing.continued("provision share pack", command.traceparent,
                                                  share_pack_id=str(command.share_pack_id),
                                                  request_id=command.request_id or ""):
                    job(command, lease)
            except SharePackBusy as exc:
                delay = self.retry_policy.busy_delay()
                log.info("queue.share_pack_busy", delay_seconds=delay, reason=exc.message)
                self._reschedule(lease, command, delay)
                return
            except RetryLater as exc:
                self._retry_transient(lease, command, exc.message, exc.retry_after_seconds)
                return
            except ProvisioningInterrupted:
                log.info("queue.message_released")
                self._settle(self.queue.release, lease)
                return
            except Exception as exc:
                if isinstance(exc, ServiceUnavailable) or is_database_unavailable(exc):
                    self._retry_transient(lease, command, _describe_outage(exc), None)
                    return
                log.exception("queue.job_crashed")
                return
            if self._settle(self.queue.delete, lease):
                log.info("Message deleted from queue")

    def _retry_transient(
        self, lease: MessageLease, command: ProvisionSharePack, reason: str, retry_after_seconds: int | None
    ) -> None:
        """Wait out a transient failure with backoff, or poison the message once the budget is spent."""
        now = self.clock()
        successor = command.after_transient_failure(now)
        first_failure_at = successor.first_transient_failure_at or now
        if self.retry_policy.budget_spent(first_failure_at, now):
            lasted = int((now - first_failure_at).total_seconds())
            self._poison(
                lease.message,
                command,
                f"Gave up after {successor.transient_attempts} transient failures over {lasted} s "
                f"(transient_retry_budget_seconds); last: {reason}",
            )
            return
        delay = self.retry_policy.transient_delay(
            successor.transient_attempts, retry_after_seconds=retry_after_seconds
        )
        log.warning(
            "queue.retry_later",
            attempt=successor.transient_attempts,
            delay_seconds=delay,
            retry_after_seconds=retry_after_seconds,
            reason=reason,
        )
        self._reschedule(lease, successor, delay)

    def _reschedule(self, lease: MessageLease, successor: ProvisionSharePack, delay: int) -> None:
        """Replace the held message by `successor`, visible after `delay` seconds (a fresh dequeue count)."""
        if lease.lost:
            return  # another consumer holds it now; it is theirs to settle
        try:
            self.queue.send(successor.to_json(), delay_seconds=delay)
        except ServiceUnavailable:
            # The queue is down too: keep the current message hidden for the delay if we still can; if not,
            # it comes back after its visibility timeout. Either way it costs one delivery of the crash budget.
            log.warning("queue.successor_not_sent", exc_info=True)
            self._settle(lambda m: self.queue.extend(m, visibility_timeout=delay), lease)
            return
        self._settle(self.queue.delete, lease)

    def _settle(self, action: Callable[[QueueMessage], object], lease: MessageLease) -> bool:
        """Apply `action` to the held message; return whether it was applied."""
        if lease.lost:
            return False  # another consumer holds it now; it is theirs to settle
        try:
            action(lease.message)
        except MessageLost:
            log.warning("queue.message_lost_at_settle")
        except ServiceUnavailable:
            log.warning("queue.settle_failed", exc_info=True)  # it comes back after its visibility timeout
        else:
            return True
        return False

    def _poison(self, message: QueueMessage, command: ProvisionSharePack | None, reason: str) -> None:
        # Record first: if that fails the message stays, comes back, and is poisoned again.
        self.on_poison(command, reason)
        self.poison_queue.send(message.content)
        try:
            self.queue.delete(message)
        except MessageLost:
            log.warning("queue.message_lost_at_settle")
        log.error("queue.message_poisoned", reason=reason)


def _describe_outage(exc: Exception) -> str:
    """One line for the log and the poison reason; the driver's own text may carry connection details."""
    if isinstance(exc, ServiceUnavailable):
        return exc.message
    return f"Database unavailable ({type(getattr(exc, 'orig', None) or exc).__name__})"
