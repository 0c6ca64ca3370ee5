"""What every queue backend offers: Azure Storage Queue semantics, behind one Protocol.

The semantics are Azure's, because production runs on Azure Storage queues and the PostgreSQL backend
imitates them:

* `receive` hides the message for `visibility_timeout` seconds, increments its dequeue count and hands out
  a new pop receipt. If the consumer neither deletes nor extends it in time, it is delivered again
  (at-least-once delivery; the worker is idempotent).
* Only the holder of the *current* pop receipt may `extend`, `release` or `delete` the message. `extend`
  and `release` change the pop receipt, so callers must keep the message they return. A stale receipt
  (the message timed out and someone else received it, or it was already deleted) raises `MessageLost`.
* A backend that cannot be reached raises `shared.platform.errors.ServiceUnavailable`, never a driver exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from shared.platform.errors import WorkflowError


class MessageLost(WorkflowError):
    """The pop receipt is stale: the message was deleted, or its visibility ran out and another consumer
    received it. The current holder owns it now; stop working on it and do not delete it."""


@dataclass(frozen=True)
class QueueMessage:
    """One received message and the proof of holding it (`pop_receipt`)."""

    id: str
    content: str
    dequeue_count: int
    pop_receipt: str
    inserted_on: datetime | None = None
    next_visible_on: datetime | None = None


@runtime_checkable
class MessageQueue(Protocol):
    """A named queue with visibility timeouts, dequeue counts and pop receipts."""

    @property
    def name(self) -> str:
        """The queue's name (the outbox routes rows by it)."""
        ...

    def ensure_exists(self) -> None:
        """Create the queue if it does not exist (idempotent; call once at start-up)."""
        ...

    def send(self, content: str, *, delay_seconds: int = 0) -> None:
        """Append a message, visible at once or after `delay_seconds` (Azure allows up to 7 days)."""
        ...

    def receive(self, *, visibility_timeout: int) -> QueueMessage | None:
        """Take the next visible message and hide it for `visibility_timeout` seconds; None when empty."""
        ...

    def extend(self, message: QueueMessage, *, visibility_timeout: int) -> QueueMessage:
        """Keep the message hidden for `visibility_timeout` more seconds from now.

        Returns the message with its new pop receipt; the old one no longer works.

        Raises:
            MessageLost: the caller no longer holds the message.
        """
        ...

    def release(self, message: QueueMessage) -> None:
        """Make the message visible again now, for another consumer (e.g. on shutdown).

        Raises:
            MessageLost: the caller no longer holds the message.
        """
        ...

    def delete(self, message: QueueMessage) -> None:
        """Remove the message for good (after its outcome is recorded).

        Raises:
            MessageLost: the caller no longer holds the message.
        """
        ...

    def approximate_count(self) -> int:
        """Number of messages in the queue, hidden ones included (a hint for monitoring, not exact)."""
        ...

    def ping(self) -> None:
        """Check the queue is reachable and exists; raise `ServiceUnavailable` if not (health check)."""
        ...
