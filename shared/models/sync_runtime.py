"""The sync service's mutable state, kept in `workflow_runtime` so the `deltashare` logs stay append-only.

`notifications` (deltashare) is the log of what was sent; how a notification is being delivered (attempts,
the next try, the Message-ID) and its status history live here. Activation links live here only as
ciphertext, only until they are mailed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RUNTIME_SCHEMA, Base


class NotificationDelivery(Base):
    """How one notification is being delivered; created at its first attempt."""

    __tablename__ = "notification_deliveries"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Stable across attempts: a message re-sent after a crash carries the same Message-ID (RFC 5322 §3.6.4),
    # so mail systems that already have it treat the copy as the same message.
    message_id: Mapped[str] = mapped_column(unique=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    # Set just before handing the message to SMTP, cleared once the outcome is recorded.
    sending_since: Mapped[datetime | None]
    last_error: Mapped[str | None]


class NotificationEvent(Base):
    """One step of a notification's status history: PENDING (retry scheduled), SENT or FAILED."""

    __tablename__ = "notification_events"
    __table_args__ = (
        Index("ix_notification_events_notification", "notification_id", "event_id"),
        {"schema": RUNTIME_SCHEMA},
    )

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    notification_id: Mapped[uuid.UUID]
    status: Mapped[str]
    attempt: Mapped[int] = mapped_column(Integer)
    error_message: Mapped[str | None]
    occurred_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))


class ActivationLinkCiphertext(Base):
    """A recipient's activation link, encrypted with `activation_link_keys`, until it is mailed."""

    __tablename__ = "activation_links"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_url: Mapped[str]
    recipient_name: Mapped[str]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class SyncRunRequest(Base):
    """An operator asked for a sync job to run now; the sync service takes it at its next tick."""

    __tablename__ = "sync_run_requests"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    sync_type: Mapped[str] = mapped_column(primary_key=True)
    requested_by: Mapped[str]
    requested_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class TokenExpiryNotice(Base):
    """A TOKEN_EXPIRY threshold already announced for one token, so each is announced once."""

    __tablename__ = "token_expiry_notices"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    workspace_url: Mapped[str] = mapped_column(primary_key=True)
    recipient_name: Mapped[str] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(primary_key=True)
    threshold_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
