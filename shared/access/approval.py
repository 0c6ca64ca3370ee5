"""The approval gate as the worker reads it: a pack that needs an approver's decision is provisioned only
with one on record. The decisions themselves are moves of the pack (`shared.use_cases.transitions`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.access.admission import needs_approval
from shared.models import Request, SharePack, Tenant
from shared.models.history import History
from shared.platform.status import RequestStatus
from shared.share_pack_file import SharePackSpec


def latest_request(session: Session, share_pack_id: uuid.UUID) -> Request | None:
    """The request of the pack's latest move (each move writes its own): the one its approval is read from."""
    return session.scalar(
        select(Request)
        .where(Request.is_current, Request.share_pack_id == share_pack_id)
        .order_by(Request.share_pack_version.desc().nulls_last(), Request.effective_from.desc())
        .limit(1)
    )


def missing_approval(session: Session, pack: SharePack, spec: SharePackSpec) -> str | None:
    """Why the worker must not provision `pack` (None: it may): it needs approval and has none.

    The worker asks this itself rather than trusting that only approved packs reach the queue: a pack held
    at upload, or one the tenant's rule holds now, is provisioned only with an approver's decision on record.
    """
    request = latest_request(session, pack.share_pack_id)
    if request is not None and request.approver_status == RequestStatus.APPROVED:
        return None
    held_at_upload = request is not None and request.approver_status is not None
    tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
    if held_at_upload or (tenant is not None and needs_approval(session, tenant, spec, pack.workspace_url)):
        return "The share pack needs approval by an approver of its project and has not been approved"
    return None
