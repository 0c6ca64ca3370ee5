"""What was asked: share packs (the uploaded request, its status and plan) and the request records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Versioned, one_of
from shared.platform.status import RequestStatus, SharePackStatus, values


class SharePack(Versioned, Base):
    """One uploaded share pack; every status change is a new version, so its history is its timeline."""

    __tablename__ = "share_packs"
    __business_key__ = "share_pack_id"
    __extra_table_args__ = (
        one_of("share_pack_status", values(SharePackStatus)),
        one_of("strategy", ("NEW", "UPDATE", "DELETE")),
        one_of("file_format", ("yaml", "xlsx")),
        Index("ix_share_packs_current_listing", "is_current", "share_pack_status", "effective_from"),
    )

    share_pack_id: Mapped[uuid.UUID]
    share_pack_name: Mapped[str]
    share_pack_status: Mapped[str]
    provisioning_status: Mapped[str | None]
    error_message: Mapped[str | None]
    requested_by: Mapped[str]
    strategy: Mapped[str]
    # The canonical share pack (shared.share_pack_file.SharePack.to_dict()), the plan the worker made, and the
    # warnings the requestor was shown at upload. Deferred: they can be megabytes, and status reads and
    # history listings never need them.
    config: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    plan: Mapped[dict[str, Any] | None] = mapped_column(deferred=True)
    validation_warnings: Mapped[list[Any] | None] = mapped_column(deferred=True)
    file_format: Mapped[str]
    original_filename: Mapped[str | None]
    workspace_url: Mapped[str]
    tenant_id: Mapped[uuid.UUID | None]
    project_id: Mapped[uuid.UUID | None]
    project_name: Mapped[str | None]
    request_source: Mapped[str | None]
    created_at: Mapped[datetime]


class Request(Versioned, Base):
    """The business request behind a share pack (approvals and tickets are added by later workflows)."""

    __tablename__ = "requests"
    __business_key__ = "request_id"
    __extra_table_args__ = (
        one_of("status", values(RequestStatus)),
        Index(
            "ix_requests_share_pack_latest", "share_pack_id", "share_pack_version", postgresql_where=text("is_current")
        ),
    )

    request_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID | None]
    share_pack_id: Mapped[uuid.UUID]
    #: The version of the pack this request asks for (each move of a pack writes a request of its own).
    share_pack_version: Mapped[int | None]
    requested_by: Mapped[str]
    approved_by: Mapped[str | None]
    assigned_to: Mapped[str | None]
    service_now_ticket: Mapped[str | None]
    ado_ticket: Mapped[str | None]
    request_description: Mapped[str | None]
    status: Mapped[str]
    request_type: Mapped[str]
    approver_status: Mapped[str | None]
    assigned_datetime: Mapped[datetime | None]
    approved_datetime: Mapped[datetime | None]
