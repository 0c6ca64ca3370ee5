"""Four eyes: the approvers' word a move's request row starts with, and who may decide a waiting pack.

The `Workflow` (shared.use_cases.transitions) asks these rules at every move; they read the pack's history
and the tenant's approval rule and write only request rows:

* every move records its caller (`requested_by` on the pack and on a request row of its own), so the
  person who starts a revision, a rollback, a retry or a reconcile is on the record as its requestor;
* nobody who changed a pack since its last decision may approve or decline it (`require_decider`);
* a rollback waits for an approver unless its target was itself approved and gives no access the current
  configuration does not give (`rollback_grant`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.access.admission import needs_approval
from shared.access.approval import latest_request
from shared.access.policy import Access
from shared.models import Project, Request, SharePack, Tenant
from shared.models.history import History
from shared.platform.errors import Forbidden
from shared.platform.status import RequestStatus
from shared.provisioning.plan import Plan
from shared.share_pack_file import SharePackSpec
from shared.use_cases.lifecycle import APPROVED, DECLINED, RollbackTarget, widens_access
from shared.use_cases.moves import Asker


@dataclass(frozen=True)
class Grant:
    """The approvers' word a new request row starts with (None everywhere: nobody decided yet)."""

    approver_status: str | None = None
    approved_by: str | None = None
    approved_datetime: datetime | None = None


PENDING = Grant(approver_status="PENDING")


def owners(session: Session, pack: SharePack) -> tuple[Tenant | None, Project | None]:
    tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
    project = History(session, Project).current(pack.project_id) if pack.project_id else None
    return tenant, project


def open_request(session: Session, asker: Asker, pack: SharePack, spec: SharePackSpec, grant: Grant) -> None:
    """Write the request row of a move: the caller asks for it; ``grant`` is the approvers' word so far."""
    waits = grant.approver_status == "PENDING"
    # Nothing reads it back in this transaction: it goes with the move's commit.
    History(session, Request).create(
        flush=False,
        created_by=asker.identity,
        change_reason=pack.change_reason,
        share_pack_id=pack.share_pack_id,
        share_pack_version=pack.version,
        project_id=pack.project_id,
        requested_by=asker.identity,
        request_description=spec.metadata.description,
        service_now_ticket=spec.metadata.service_now_ticket,
        ado_ticket=spec.metadata.ado_ticket,
        status=RequestStatus.PENDING_APPROVAL if waits else RequestStatus.SUBMITTED,
        request_type=spec.metadata.strategy.value,
        approver_status=grant.approver_status,
        approved_by=grant.approved_by,
        approved_datetime=grant.approved_datetime,
    )


def latest_grant(session: Session, share_pack_id: uuid.UUID) -> Grant:
    """A move that repeats the current configuration (retry, reconcile) carries the decision taken on it."""
    request = latest_request(session, share_pack_id)
    if request is None:
        return Grant()
    return Grant(request.approver_status, request.approved_by, request.approved_datetime)


def rollback_grant(session: Session, pack: SharePack, target: RollbackTarget, plan: Plan | None) -> Grant:
    """The approvers' word a rollback starts with: PENDING unless it needs none or inherits its target's.

    It needs one when the tenant's rule holds the restored configuration; it inherits the target's
    approval only when an approver approved the target and going back gives no access the pack does not
    give now (`widens_access`).
    """
    tenant, _project = owners(session, pack)
    if tenant is None or not needs_approval(session, tenant, target.restore, pack.workspace_url):
        return Grant()
    chosen = target.configuration
    if chosen.decision != APPROVED or widens_access(target.restore, stored_spec(pack), plan=plan, later=target.later):
        return PENDING
    approval = session.scalar(
        select(SharePack.effective_from).where(
            SharePack.share_pack_id == pack.share_pack_id, SharePack.version > chosen.version,
            SharePack.change_reason == APPROVED,
        ).order_by(SharePack.version).limit(1)
    )
    return Grant(RequestStatus.APPROVED, chosen.decided_by, approval)


def require_decider(access: Access, session: Session, pack: SharePack) -> None:
    """Forbidden unless the caller approves the pack's project, did not request it, and wrote no version of it
    since its last decision (or ever, if it has none)."""
    access.require_approver(owners(session, pack)[1], pack, stored_spec(pack).metadata.requestor)
    versions = session.execute(
        select(SharePack.version, SharePack.change_reason, SharePack.created_by)
        .where(SharePack.share_pack_id == pack.share_pack_id)
    ).all()
    last_decision = max((v for v, reason, _by in versions if reason in (APPROVED, DECLINED)), default=0)
    if any(access.is_self(by) for v, _reason, by in versions if v > last_decision):
        raise Forbidden(
            f"You changed share pack {pack.share_pack_id} since its last decision; another approver of its "
            "project must decide"
        )


def stored_spec(pack: SharePack) -> SharePackSpec:
    """The configuration a version of the pack stores."""
    return SharePackSpec.from_dict(pack.config)
