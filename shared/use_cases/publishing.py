"""Outbox rows written inside a move's transaction, handed to the publisher when, and only when, it commits.

Whoever owns the transaction (the workflow's own, or the sweeper's), `publish_on_commit` makes its commit
hand every outbox row it wrote to the publisher; a rolled-back transaction publishes nothing, and a queue
outage loses nothing, since the relay sends what the publisher could not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox

_OUTBOX_IDS = "workflow.outbox_ids"
_PUBLISHES = "workflow.publishes"


def queue_on_commit(session: Session, queue_name: str, message: ProvisionSharePack) -> None:
    """Write ``message``'s outbox row in ``session``; it is published once the session commits."""
    row = add_to_outbox(session, queue_name=queue_name, message=message)
    session.info.setdefault(_OUTBOX_IDS, []).append(row.id)


@contextmanager
def publishing(session_factory: sessionmaker[Session], publish: Callable[[int], object]) -> Iterator[Session]:
    """``session_factory.begin()`` whose outbox rows are handed to ``publish`` once it has committed."""
    with session_factory.begin() as session:
        publish_on_commit(session, publish)
        yield session


def publish_on_commit(session: Session, publish: Callable[[int], object]) -> None:
    """When ``session`` commits, hand every outbox row it wrote to ``publish`` (a rolled-back session is
    discarded, its rows with it; a row rolled back to a savepoint is simply not found by the publisher)."""
    if session.info.get(_PUBLISHES):
        return
    session.info[_PUBLISHES] = True

    def sent(committed: Session) -> None:
        for outbox_id in committed.info.pop(_OUTBOX_IDS, []):
            publish(outbox_id)

    event.listen(session, "after_commit", sent)
