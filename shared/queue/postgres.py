"""The embedded backend: a queue table in PostgreSQL with Azure Storage queue semantics.

For a single machine (`make run`, small deployments) this saves running a queue service. Every call is
its own short transaction on `workflow_runtime.queue_messages`; all times come from the database clock,
so API and worker processes on different hosts agree on when a message becomes visible.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Insert, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from shared.models.runtime import QueueMessageRow
from shared.platform.errors import ServiceUnavailable
from shared.queue.interface import MessageLost, QueueMessage

_messages = QueueMessageRow.__table__
# clock_timestamp(), not now(): now() is frozen at the start of the transaction.
_now = func.clock_timestamp


class PostgresQueue:
    """`MessageQueue` on the `workflow_runtime.queue_messages` table; `queue_name` separates queues."""

    def __init__(self, engine: Engine, queue_name: str) -> None:
        self._engine = engine
        self._queue_name = queue_name

    @property
    def name(self) -> str:
        return self._queue_name

    def ensure_exists(self) -> None:
        """Nothing to create: the table comes with the migrations and a queue is just a `queue_name`."""

    def send(self, content: str, *, delay_seconds: int = 0) -> None:
        values: dict[str, Any] = {"id": uuid.uuid4(), "queue_name": self._queue_name, "body": content}
        if delay_seconds:
            values["visible_at"] = _now() + timedelta(seconds=delay_seconds)
        with self._translate_errors("send"), self._engine.begin() as conn:
            conn.execute(insert(_messages).values(**values))

    def send_within(self, connection: Connection, content: str) -> None:
        """Write a message in the caller's transaction on this queue's database: it is visible once, and
        only if, that transaction commits (`shared.use_cases.publishing.InTransaction`). Errors propagate
        and fail the caller's transaction."""
        connection.execute(_insert_statement(), {"id": uuid.uuid4(), "queue_name": self._queue_name, "body": content})

    def receive(self, *, visibility_timeout: int) -> QueueMessage | None:
        # Oldest-visible first; SKIP LOCKED lets concurrent receivers take different messages instead of
        # queueing behind each other's row lock. Ordering by visible_at lets ix_queue_messages_ready serve
        # the whole lookup, however many messages are hidden.
        candidate = (
            select(_messages.c.id)
            .where(_messages.c.queue_name == self._queue_name, _messages.c.visible_at <= _now())
            .order_by(_messages.c.visible_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(_messages)
            .where(_messages.c.id == candidate)
            .values(
                visible_at=_now() + timedelta(seconds=visibility_timeout),
                dequeue_count=_messages.c.dequeue_count + 1,
                pop_receipt=uuid.uuid4(),
            )
            .returning(*_messages.c)
        )
        with self._translate_errors("receive"), self._engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _to_message(row)

    def extend(self, message: QueueMessage, *, visibility_timeout: int) -> QueueMessage:
        return self._update_visibility(message, visibility_timeout)

    def release(self, message: QueueMessage) -> None:
        self._update_visibility(message, 0)

    def delete(self, message: QueueMessage) -> None:
        stmt = delete(_messages).where(*self._held(message))
        with self._translate_errors("delete"), self._engine.begin() as conn:
            deleted = conn.execute(stmt).rowcount
        if deleted == 0:
            raise MessageLost(f"Queue message on {self.name} is no longer held")

    def approximate_count(self) -> int:
        stmt = select(func.count()).select_from(_messages).where(_messages.c.queue_name == self._queue_name)
        with self._translate_errors("count"), self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def ping(self) -> None:
        # Touch the table, not just the server: a database without the migrations is not a working queue.
        stmt = select(_messages.c.id).limit(0)
        with self._translate_errors("ping"), self._engine.connect() as conn:
            conn.execute(stmt).all()

    def _update_visibility(self, message: QueueMessage, visibility_timeout: int) -> QueueMessage:
        # Like Azure, every update hands out a new pop receipt, so a receipt proves the latest hold.
        stmt = (
            update(_messages)
            .where(*self._held(message))
            .values(visible_at=_now() + timedelta(seconds=visibility_timeout), pop_receipt=uuid.uuid4())
            .returning(*_messages.c)
        )
        with self._translate_errors("update"), self._engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            raise MessageLost(f"Queue message on {self.name} is no longer held")
        return _to_message(row)

    def _held(self, message: QueueMessage) -> tuple[ColumnElement[bool], ...]:
        """WHERE clauses matching the message only while `message.pop_receipt` is its current receipt."""
        try:
            message_id, receipt = uuid.UUID(message.id), uuid.UUID(message.pop_receipt)
        except ValueError:
            raise MessageLost(f"Queue message on {self.name} is no longer held (not one of ours)") from None
        return (
            _messages.c.id == message_id,
            _messages.c.queue_name == self._queue_name,
            _messages.c.pop_receipt == receipt,
        )

    @contextmanager
    def _translate_errors(self, operation: str) -> Iterator[None]:
        """Turn driver errors (server down, connection lost, table missing) into `ServiceUnavailable`."""
        try:
            yield
        except DBAPIError as exc:
            reason = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
            raise ServiceUnavailable(f"Queue {self.name} unavailable ({operation}: {reason})") from exc


def _to_message(row: Row[Any]) -> QueueMessage:
    """Map a `queue_messages` row to the backend-neutral message."""
    return QueueMessage(
        id=str(row.id),
        content=row.body,
        dequeue_count=row.dequeue_count,
        pop_receipt=str(row.pop_receipt),
        inserted_on=row.inserted_at,
        next_visible_on=row.visible_at,
    )


@functools.cache
def _insert_statement() -> Insert:
    """`send_within`'s INSERT, built once: it runs in every upload's transaction."""
    return insert(_messages).values(id=bindparam("id"), queue_name=bindparam("queue_name"), body=bindparam("body"))
