"""What the sync service reads about time-boxed access, and who may change it.

* `record_completion`: when a pack completes, its expiries replace the ones recorded for it (a revision
  that drops or moves an `expires_on` takes effect with the configuration it belongs to), and its first
  completion counts as the first confirmation of its access.
* `set_recertification`: administrators require a project's access to be confirmed every N days.
* `recertify`: the project's owners (configurators) and approvers, or administrators, confirm a pack's access.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.access.policy import Access
from shared.access_expiry.rules import EVERY_SHARE, deadlines_of, recertification_due
from shared.models import AccessExpiry, PackCertification, Project, ProjectRecertification, SharePack
from shared.models.history import History, audit
from shared.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.platform.status import AuditAction, SharePackStatus
from shared.share_pack_file.model import SharePackSpec

MAX_EVERY_DAYS = 3660


@dataclass(frozen=True)
class Recertification:
    """A project's rule and, for a pack, when its access was last confirmed and when it lapses."""

    every_days: int | None
    certified_at: datetime | None = None
    certified_by: str | None = None
    due_at: datetime | None = None


def record_completion(session: Session, pack: SharePack, *, by: str) -> None:
    """Replace the pack's recorded expiries with its completed configuration's (in the completing transaction)."""
    spec = SharePackSpec.from_dict(pack.config)
    session.execute(delete(AccessExpiry).where(AccessExpiry.share_pack_id == pack.share_pack_id))
    rows = [
        {"share_pack_id": pack.share_pack_id, "recipient_name": d.recipient, "share_name": d.share or EVERY_SHARE,
         "workspace_url": pack.workspace_url, "expires_at": d.due_at}
        for d in deadlines_of(spec)
    ]
    if rows:
        session.execute(insert(AccessExpiry).values(rows).on_conflict_do_nothing())
    session.execute(
        insert(PackCertification)
        .values(share_pack_id=pack.share_pack_id, certified_at=datetime.now(UTC), certified_by=by)
        .on_conflict_do_nothing()
    )


def set_recertification(
    session_factory: sessionmaker[Session], access: Access, project_id: uuid.UUID, every_days: int | None,
    *, request_id: str | None = None,
) -> Recertification:
    """Require the project's packs to be recertified every ``every_days`` days (None: no longer required)."""
    access.require_admin("set a project's recertification period")
    if every_days is not None and not 1 <= every_days <= MAX_EVERY_DAYS:
        raise InvalidInput(f"EveryDays must be between 1 and {MAX_EVERY_DAYS} (got {every_days})")
    with session_factory.begin() as session:
        if History(session, Project).current(project_id) is None:
            raise NotFound(f"Project {project_id} not found")
        before = session.get(ProjectRecertification, project_id)
        old = {"every_days": before.every_days} if before else {"every_days": None}
        if every_days is None:
            session.execute(delete(ProjectRecertification).where(ProjectRecertification.project_id == project_id))
        else:
            session.execute(
                insert(ProjectRecertification)
                .values(project_id=project_id, every_days=every_days, set_by=access.principal.identity)
                .on_conflict_do_update(
                    index_elements=[ProjectRecertification.project_id],
                    set_={"every_days": every_days, "set_by": access.principal.identity, "set_at": datetime.now(UTC)},
                )
            )
        audit(session, ("project", project_id), AuditAction.UPDATED, by=access.principal.identity,
              old=old, new={"recertification_every_days": every_days}, request_id=request_id)
    return Recertification(every_days)


def project_recertification(session: Session, project_id: uuid.UUID | None) -> int | None:
    """The project's recertification period in days, or None when it requires none."""
    if project_id is None:
        return None
    return session.scalar(
        select(ProjectRecertification.every_days).where(ProjectRecertification.project_id == project_id)
    )


def pack_recertification(session: Session, pack: SharePack) -> Recertification:
    """The pack's project rule, its last confirmation and its deadline (None when its project requires none)."""
    rule = session.get(ProjectRecertification, pack.project_id) if pack.project_id else None
    certification = session.get(PackCertification, pack.share_pack_id)
    if rule is None:
        return Recertification(None, certification.certified_at if certification else None,
                               certification.certified_by if certification else None)
    if certification is None:
        return Recertification(rule.every_days)
    return Recertification(rule.every_days, certification.certified_at, certification.certified_by,
                           recertification_due(certification.certified_at, rule.set_at, rule.every_days))


def require_recertifier(session: Session, access: Access, pack: SharePack) -> Project | None:
    """Forbidden unless the caller owns (configures) or approves the pack's project, or is an administrator;
    NotFound, like an unknown id, for a pack they do not see."""
    access.require_visible(session, pack)
    project = History(session, Project).current(pack.project_id) if pack.project_id else None
    if access.is_admin or access.is_project_configurator(project) or access.is_project_approver(project):
        return project
    raise Forbidden("Only the owners (configurators) and approvers of the share pack's project, and "
                    "administrators, may recertify its access")


def recertify(
    session_factory: sessionmaker[Session], access: Access, share_pack_id: uuid.UUID, *, workspace_url: str,
    request_id: str | None = None,
) -> Recertification:
    """Confirm that the pack's access is still needed: its recertification period starts again now."""
    with session_factory.begin() as session:
        pack = History(session, SharePack).current(share_pack_id)
        if pack is None or pack.workspace_url != workspace_url:
            raise NotFound(f"Share pack {share_pack_id} not found")
        require_recertifier(session, access, pack)
        if project_recertification(session, pack.project_id) is None:
            raise Conflict(f"The project of share pack {share_pack_id} does not require recertification")
        if pack.share_pack_status not in (SharePackStatus.COMPLETED, SharePackStatus.FAILED):
            raise Conflict(f"Share pack {share_pack_id} is {pack.share_pack_status}; its access can be "
                           "recertified once it has been provisioned")
        now = datetime.now(UTC)
        by = access.principal.identity
        session.execute(
            insert(PackCertification)
            .values(share_pack_id=share_pack_id, certified_at=now, certified_by=by)
            .on_conflict_do_update(index_elements=[PackCertification.share_pack_id],
                                   set_={"certified_at": now, "certified_by": by})
        )
        audit(session, ("share_pack", share_pack_id), AuditAction.UPDATED, by=by,
              new={"recertified_at": now.isoformat(), "version": pack.version}, request_id=request_id)
        session.flush()
        return pack_recertification(session, pack)
