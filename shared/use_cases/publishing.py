"""How a move's message reaches the queue: written in the move's own transaction, sent only if it commits.

A move (an upload, a retry, the sweeper's re-queue, ...) stores the pack's next version and its message in
one transaction, so a pack is never queued without its version nor stored without its message. How the
message is written depends on where the queue lives, and each process picks one `Dispatch` in its
composition root (`dispatch_for`):

* `ViaOutbox`, for a queue in another service (Azure Storage): the message is an outbox row; once the
  transaction commits, its id goes to the publisher, which sends it, and the relay sends whatever the
  publisher could not (`shared.queue.outbox`).
* `InTransaction`, for the PostgreSQL queue: the queue is a table of the same database, so the message row
  itself is written in the move's transaction. Workers see it exactly when the move commits; there is no
  outbox row, no publisher's transaction and nothing for the relay to catch up on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.queue.interface import MessageQueue
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox
from shared.queue.postgres import PostgresQueue

_OUTBOX_IDS = "workflow.outbox_ids"
_PUBLISHES = "workflow.publishes"


class Dispatch(Protocol):
    """Writes a move's message in the move's transaction; the queue delivers it once, and only if, it commits."""

    def send(self, session: Session, message: ProvisionSharePack) -> None: ...


@dataclass(frozen=True)
class ViaOutbox:
    """The message as an outbox row of ``queue_name``; committed rows are handed to ``publish``."""

    queue_name: str
    #: Hands a committed outbox row to the publisher (`OutboxPublisher.notify`); the relay sends what it misses.
    publish: Callable[[int], object]

    def send(self, session: Session, message: ProvisionSharePack) -> None:
        row = add_to_outbox(session, queue_name=self.queue_name, message=message)
        session.info.setdefault(_OUTBOX_IDS, []).append(row.id)
        _publish_on_commit(session, self.publish)


@dataclass(frozen=True)
class InTransaction:
    """The message as a row of the PostgreSQL queue, in the move's own transaction (same database)."""

    queue: PostgresQueue

    def send(self, session: Session, message: ProvisionSharePack) -> None:
        self.queue.send_within(session.connection(), json.dumps(message.to_envelope(), separators=(",", ":")))


def dispatch_for(queue: MessageQueue, publish: Callable[[int], object]) -> Dispatch:
    """The dispatch for ``queue``, whose process's sessions are on the database of a PostgreSQL queue."""
    return InTransaction(queue) if isinstance(queue, PostgresQueue) else ViaOutbox(queue.name, publish)


def _publish_on_commit(session: Session, publish: Callable[[int], object]) -> None:
    """When ``session`` commits, hand every outbox row it wrote to ``publish`` (a rolled-back session is
    discarded, its rows with it; a row rolled back to a savepoint is simply not found by the publisher)."""
    if session.info.get(_PUBLISHES):
        return
    session.info[_PUBLISHES] = True

    def sent(committed: Session) -> None:
        for outbox_id in committed.info.pop(_OUTBOX_IDS, []):
            publish(outbox_id)

    event.listen(session, "after_commit", sent)
