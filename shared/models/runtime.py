"""Delivery machinery, kept outside the `deltashare` domain schema: the outbox and the PostgreSQL queue.

These rows are transient plumbing, not business history, so they live in their own schema and may be
deleted once their work is done.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RUNTIME_SCHEMA, Base


class OutboxMessage(Base):
    """A queue message written in the same transaction as the change that caused it.

    The API commits the share pack and its outbox row together, then publishes; if the queue is down the
    row stays unpublished and the relay (`shared.queue.outbox`) publishes it later. So no upload is lost.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        {"schema": RUNTIME_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    queue_name: Mapped[str]
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None]


class QueueMessageRow(Base):
    """A message of the PostgreSQL queue backend (same semantics as an Azure Storage queue message)."""

    __tablename__ = "queue_messages"
    __table_args__ = (
        Index("ix_queue_messages_ready", "queue_name", "visible_at"),
        {"schema": RUNTIME_SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    queue_name: Mapped[str]
    body: Mapped[str]
    inserted_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    visible_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    dequeue_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    pop_receipt: Mapped[uuid.UUID | None]


class DriftFindingRow(Base):
    """One difference the last Databricks sync of a workspace found (``share_pack_id`` NULL: no pack owns it).

    Derived data: each sync of a workspace replaces its findings (the `sync_jobs` row keeps the counts),
    so they live with the plumbing rather than in the domain history.
    """

    __tablename__ = "drift_findings"
    __table_args__ = (
        Index("ix_drift_findings_workspace_pack", "workspace_url", "share_pack_id"),
        {"schema": RUNTIME_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    workspace_url: Mapped[str]
    share_pack_id: Mapped[uuid.UUID | None]
    sync_job_id: Mapped[uuid.UUID | None]
    entity: Mapped[str]
    name: Mapped[str]
    kind: Mapped[str]
    expected: Mapped[dict[str, Any] | None]
    actual: Mapped[dict[str, Any] | None]
    detected_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class ConsoleSessionRow(Base):
    """A web console session, so that it can end on the server: sign-out revokes it, and a session idle
    or older than its limits is refused, whatever cookie a browser (or an attacker) presents.

    The cookie carries a random session id; this table keeps only its SHA-256, so a read of the table
    cannot be replayed as a cookie (which must also be signed with the console's key).
    """

    __tablename__ = "console_sessions"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    session_hash: Mapped[str] = mapped_column(primary_key=True)
    identity: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_seen_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    revoked_at: Mapped[datetime | None]


class IdempotencyKeyRow(Base):
    """The first answer to a request sent with an `Idempotency-Key` header, so that the same request sent
    again (a client's network retry) gets that answer instead of making a second share pack.

    Keyed by the SHA-256 of caller, workspace, operation and key, so two callers' keys never meet; kept
    `shared.use_cases.idempotency.RETENTION` (at least 24 hours), then pruned. `status_code` is NULL while the first
    request is still being answered.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_created_at", "created_at"),
        {"schema": RUNTIME_SCHEMA},
    )

    key_hash: Mapped[str] = mapped_column(primary_key=True)
    request_hash: Mapped[str]
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
