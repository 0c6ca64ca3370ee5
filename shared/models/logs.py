"""The five append-only logs: what happened, when, and to what. Rows are never rewritten or deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Computed, Index, Numeric, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import DOMAIN_SCHEMA, AppendOnly, Base, one_of
from shared.platform.status import AuditAction, NotificationStatus, NotificationType, SyncStatus, SyncType, values

_ID = {"primary_key": True, "default": uuid.uuid4, "server_default": text("gen_random_uuid()")}
Money = Numeric(14, 2)


class JobMetric(AppendOnly, Base):
    """One pipeline run as Databricks reported it."""

    __tablename__ = "job_metrics"
    __table_args__ = ({"schema": DOMAIN_SCHEMA},)

    metrics_id: Mapped[uuid.UUID] = mapped_column(**_ID)
    pipeline_id: Mapped[uuid.UUID | None]
    databricks_pipeline_id: Mapped[str | None]
    pipeline_name: Mapped[str | None]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    status: Mapped[str]
    run_id: Mapped[str] = mapped_column(unique=True)
    error_message: Mapped[str | None]
    collected_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class ProjectCost(AppendOnly, Base):
    """The cost of a project over one period; `total_cost` is computed by the database."""

    __tablename__ = "project_costs"
    __table_args__ = ({"schema": DOMAIN_SCHEMA},)

    cost_id: Mapped[uuid.UUID] = mapped_column(**_ID)
    project_id: Mapped[uuid.UUID]
    tenant_id: Mapped[uuid.UUID | None]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    period_type: Mapped[str]
    databricks_cost: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    azure_cost: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    network_cost: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    io_cost: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    total_cost: Mapped[Decimal] = mapped_column(
        Money, Computed("databricks_cost + azure_cost + network_cost + io_cost", persisted=True)
    )
    currency: Mapped[str] = mapped_column(server_default=text("'USD'"))
    collected_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class SyncJob(AppendOnly, Base):
    """One run of a sync job; only its outcome columns are filled in when it ends."""

    __tablename__ = "sync_jobs"
    __mutable_columns__ = (
        "status",
        "completed_at",
        "records_processed",
        "records_created",
        "records_updated",
        "records_failed",
        "error_message",
        "details",
    )
    __table_args__ = (
        one_of("sync_type", values(SyncType)),
        one_of("status", values(SyncStatus)),
        {"schema": DOMAIN_SCHEMA},
    )

    sync_job_id: Mapped[uuid.UUID] = mapped_column(**_ID)
    sync_type: Mapped[str]
    workspace_url: Mapped[str | None]
    status: Mapped[str]
    started_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    completed_at: Mapped[datetime | None]
    records_processed: Mapped[int] = mapped_column(server_default=text("0"))
    records_created: Mapped[int] = mapped_column(server_default=text("0"))
    records_updated: Mapped[int] = mapped_column(server_default=text("0"))
    records_failed: Mapped[int] = mapped_column(server_default=text("0"))
    error_message: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class Notification(AppendOnly, Base):
    """A message to deliver (e-mail); only its delivery columns change after insert."""

    __tablename__ = "notifications"
    __mutable_columns__ = ("status", "sent_at", "error_message")
    __table_args__ = (
        one_of("notification_type", values(NotificationType)),
        one_of("status", values(NotificationStatus)),
        Index("ix_notifications_pending", "created_at", postgresql_where=text("status = 'PENDING'")),
        {"schema": DOMAIN_SCHEMA},
    )

    notification_id: Mapped[uuid.UUID] = mapped_column(**_ID)
    notification_type: Mapped[str]
    recipient_email: Mapped[str | None]
    subject: Mapped[str]
    body: Mapped[str]
    related_entity_type: Mapped[str | None]
    related_entity_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(server_default=text("'PENDING'"))
    sent_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class AuditEntry(AppendOnly, Base):
    """Who did what to which entity, with the values before and after."""

    __tablename__ = "audit_trail"
    __table_args__ = (
        one_of("action", values(AuditAction)),
        Index("ix_audit_trail_entity", "entity_type", "entity_id", "timestamp"),
        {"schema": DOMAIN_SCHEMA},
    )

    audit_id: Mapped[uuid.UUID] = mapped_column(**_ID)
    entity_type: Mapped[str]
    entity_id: Mapped[str]
    action: Mapped[str]
    performed_by: Mapped[str]
    old_values: Mapped[dict[str, Any] | None]
    new_values: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None]
    timestamp: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
