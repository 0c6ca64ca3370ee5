"""The approval gate: an approver of the pack's project approves (the pack is queued) or declines it.

Both decisions are a new version of the pack and its request plus an audit row, in one transaction; an
approval also writes the outbox row that queues the pack, so a queue outage loses nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.access.admission import needs_approval
from shared.access.policy import Access
from shared.errors import Conflict, InvalidInput, NotFound
from shared.history import History
from shared.models import AuditEntry, Project, Request, SharePack, Tenant
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox
from shared.share_pack_file import SharePackSpec
from shared.status import AuditAction, RequestStatus, SharePackStatus

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Decision:
    share_pack_id: uuid.UUID
    status: str
    decided_by: str
    outbox_id: int | None  # set when the approval queued the pack


def approve(
    session_factory: sessionmaker[Session],
    access: Access,
    share_pack_id: uuid.UUID,
    *,
    comment: str | None,
    queue_name: str,
    request_id: str | None = None,
) -> Decision:
    """Approve a pack waiting for approval and queue it for provisioning."""
    return _decide(session_factory, access, share_pack_id, comment, True, queue_name, request_id)


def decline(
    session_factory: sessionmaker[Session],
    access: Access,
    share_pack_id: uuid.UUID,
    *,
    comment: str | None,
    request_id: str | None = None,
) -> Decision:
    """Decline a pack waiting for approval; it is never provisioned."""
    return _decide(session_factory, access, share_pack_id, comment, False, None, request_id)


def _decide(
    session_factory: sessionmaker[Session],
    access: Access,
    share_pack_id: uuid.UUID,
    comment: str | None,
    approved: bool,
    queue_name: str | None,
    request_id: str | None,
) -> Decision:
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"Comment is longer than {MAX_COMMENT_CHARS} characters")
    by = access.principal.identity
    verb = "approved" if approved else "declined"
    with session_factory.begin() as session:
        packs = History(session, SharePack)
        pack = packs.current(share_pack_id)
        if pack is None:
            raise NotFound(f"Share pack {share_pack_id} not found")
        access.require_visible(session, pack)
        requestor = (pack.config.get("metadata") or {}).get("requestor")
        project = _project(session, pack.project_id)
        access.require_approver(project, pack, requestor)
        if pack.share_pack_status != SharePackStatus.PENDING_APPROVAL:
            raise Conflict(f"Share pack {share_pack_id} is {pack.share_pack_status}, not waiting for approval")
        status = SharePackStatus.IN_PROGRESS if approved else SharePackStatus.DECLINED
        note = f"{verb.capitalize()} by {by}" + (f": {comment}" if comment else "")
        new = packs.change(
            share_pack_id,
            changed_by=by,
            change_reason=verb,
            expected_version=pack.version,  # a concurrent decision gets a Conflict, not a second outcome
            share_pack_status=status,
            provisioning_status=f"{note}; queued for provisioning" if approved else note,
        )
        now = datetime.now(UTC)
        request = _request(session, share_pack_id)
        if request is not None:
            History(session, Request).change(
                request.request_id,
                changed_by=by,
                change_reason=verb,
                status=RequestStatus.APPROVED if approved else RequestStatus.DECLINED,
                approver_status=RequestStatus.APPROVED if approved else RequestStatus.DECLINED,
                approved_by=by,
                approved_datetime=now,
            )
        session.add(
            AuditEntry(
                entity_type="share_pack",
                entity_id=str(share_pack_id),
                action=AuditAction.APPROVED if approved else AuditAction.DECLINED,
                performed_by=by,
                old_values={"share_pack_status": pack.share_pack_status},
                new_values={"share_pack_status": status, "comment": comment, "requested_by": pack.requested_by},
                request_id=request_id,
            )
        )
        outbox_id = None
        if approved and queue_name is not None:
            outbox_id = add_to_outbox(
                session,
                queue_name=queue_name,
                message=ProvisionSharePack(share_pack_id=share_pack_id, version=new.version, request_id=request_id,
                                           traceparent=tracing.current_traceparent()),
            ).id
    return Decision(share_pack_id=share_pack_id, status=status, decided_by=by, outbox_id=outbox_id)


def _project(session: Session, project_id: uuid.UUID | None) -> Project | None:
    if project_id is None:
        return None
    return History(session, Project).current(project_id)


def _request(session: Session, share_pack_id: uuid.UUID) -> Request | None:
    return session.scalar(select(Request).where(Request.is_current, Request.share_pack_id == share_pack_id))


def missing_approval(session: Session, pack: SharePack, spec: SharePackSpec) -> str | None:
    """Why the worker must not provision `pack` (None: it may): it needs approval and has none.

    The worker asks this itself rather than trusting that only approved packs reach the queue: a pack held
    at upload, or one the tenant's rule holds now, is provisioned only with an approver's decision on record.
    """
    request = _request(session, pack.share_pack_id)
    if request is not None and request.approver_status == RequestStatus.APPROVED:
        return None
    held_at_upload = request is not None and request.approver_status is not None
    tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
    if held_at_upload or (tenant is not None and needs_approval(session, tenant, spec, pack.workspace_url)):
        return "The share pack needs approval by an approver of its project and has not been approved"
    return None
