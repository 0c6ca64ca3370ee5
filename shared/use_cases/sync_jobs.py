"""Sync runs for operators: list the recorded runs, ask the sync service to run a job now, and follow the
delivery of a notification."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.models.logs import Notification, SyncJob
from shared.models.sync_runtime import SyncRunRequest
from shared.notifications.delivery import StatusChange, status_history
from shared.platform.errors import NotFound
from shared.platform.pagination import Page, paginate
from shared.platform.status import SyncType, values


def parse_sync_type(raw: str) -> SyncType:
    """A sync type from a URL, case-insensitively; unknown types are not found."""
    try:
        return SyncType(raw.upper())
    except ValueError:
        raise NotFound(f"Unknown sync type {raw!r}; expected one of {', '.join(values(SyncType))}") from None


SyncJobPage = Page[SyncJob]


def list_sync_jobs(
    session: Session,
    *,
    sync_type: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> SyncJobPage:
    """Recorded runs matching the filters, newest first, one page at a time."""
    conditions = []
    if sync_type:
        conditions.append(SyncJob.sync_type == sync_type.upper())
    if status:
        conditions.append(SyncJob.status == status.upper())
    return paginate(
        session,
        SyncJob,
        conditions,
        order_by=(SyncJob.started_at.desc(), SyncJob.sync_job_id),
        page=page,
        page_size=page_size,
    )


def request_sync_run(session_factory: sessionmaker[Session], sync_type: SyncType, *, requested_by: str) -> datetime:
    """Ask the sync service to run `sync_type` at its next tick; asking again before then changes nothing."""
    with session_factory.begin() as session:
        session.execute(
            insert(SyncRunRequest)
            .values(sync_type=sync_type, requested_by=requested_by)
            .on_conflict_do_nothing(index_elements=[SyncRunRequest.sync_type])
        )
        requested_at = session.scalar(select(SyncRunRequest.requested_at).where(SyncRunRequest.sync_type == sync_type))
    assert requested_at is not None
    return requested_at


def notification_with_history(session: Session, raw_id: str) -> tuple[Notification, list[StatusChange]]:
    """A notification and its status history (PENDING, retries, SENT or FAILED); NotFound if unknown."""
    try:
        notification_id = uuid.UUID(raw_id)
    except ValueError:
        raise NotFound(f"Notification {raw_id!r} not found") from None
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise NotFound(f"Notification {raw_id!r} not found")
    return notification, status_history(session, notification_id)
