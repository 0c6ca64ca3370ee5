"""Time-boxed access and recertification: what expires and when, which reminders went out, and which
projects require their access to be confirmed every N days (runtime state: rewritten as packs change)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RUNTIME_SCHEMA, Base


class AccessExpiry(Base):
    """One grant (``share_name``) or a recipient's whole access (``share_name`` '') that ends at ``expires_at``;
    a pack's rows are replaced from its configuration each time it completes."""

    __tablename__ = "access_expiries"
    __table_args__ = (
        Index("ix_access_expiries_expires_at", "expires_at"),
        {"schema": RUNTIME_SCHEMA},
    )

    share_pack_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    recipient_name: Mapped[str] = mapped_column(primary_key=True)
    share_name: Mapped[str] = mapped_column(primary_key=True)
    workspace_url: Mapped[str]
    expires_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class AccessNotice(Base):
    """A reminder already queued: ``threshold_days`` before ``due_at`` for one ``subject`` of a pack
    (``grant:<share>/<recipient>``, ``recipient:<name>`` or ``recertification``), so each goes out once."""

    __tablename__ = "access_notices"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    share_pack_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(primary_key=True)
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    threshold_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class ProjectRecertification(Base):
    """A project whose packs' access must be confirmed every ``every_days`` days, or it lapses."""

    __tablename__ = "project_recertification"
    __table_args__ = (
        CheckConstraint("every_days BETWEEN 1 AND 3660", name="every_days_range"),
        {"schema": RUNTIME_SCHEMA},
    )

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    every_days: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str]
    set_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class PackCertification(Base):
    """When a pack's access was last confirmed (its first completion counts as the first confirmation)."""

    __tablename__ = "pack_certifications"
    __table_args__ = ({"schema": RUNTIME_SCHEMA},)

    share_pack_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    certified_at: Mapped[datetime]
    certified_by: Mapped[str]
