"""The ACCESS_EXPIRY sync job's work: remind before a deadline, revoke through a new pack version at it.

Each run, for every recorded expiry and every pack of a project that requires recertification:

* 14, 3 and 1 days before the deadline, the requestor and the project's owners and approvers are mailed,
  each threshold once: the thresholds crossed are recorded in `access_notices` in the transaction that
  queues the mail, so a restart or a second run sends nothing twice (a deadline first seen inside several
  thresholds gets one mail, for the nearest).
* at the deadline, the pack's next version is queued through `Workflow.revoke` with the lapsed access
  removed (the worker then applies it like any UPDATE), its history and audit row saying why, and the same
  people are mailed, all in one transaction. A pack being provisioned or waiting for an approver is left
  for the next run.

`now` is the job's clock, given to every rule, so tests move time instead of waiting.
"""

from __future__ import annotations

import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.access.approvers import member_emails
from shared.access_expiry.rules import (
    EVERY_SHARE,
    THRESHOLD_DAYS,
    Deadline,
    has_grants,
    lapse_reason,
    lapsed,
    recertification_due,
    reminders_due,
    without,
)
from shared.models import (
    AccessExpiry,
    AccessNotice,
    Notification,
    PackCertification,
    Project,
    ProjectRecertification,
    SharePack,
)
from shared.models.history import History
from shared.notifications.addressees import requestor_email
from shared.platform.errors import Conflict, WorkflowError
from shared.platform.logging import get_logger
from shared.platform.status import NotificationType, SharePackStatus
from shared.share_pack_file.model import SharePackSpec
from shared.use_cases.transitions import Asker, Workflow

log = get_logger(__name__)

TO_EXTEND = "To keep it, upload a revision of the pack with a later expires_on (or none)."
TO_RECERTIFY = ("To keep it, an owner or approver of the project confirms it: Recertify access on the pack's "
                "console page, or POST /workflow/sharepack/{id}/recertify.")


@dataclass
class ExpiryCounts:
    deadlines: int = 0
    reminders: int = 0
    revoked: int = 0
    deferred: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class AccessExpiryWatch:
    session_factory: sessionmaker[Session]
    workflow: Workflow
    thresholds: tuple[int, ...] = THRESHOLD_DAYS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    tool: str = f"access-expiry@{socket.gethostname()}"

    def run(self, should_stop: Callable[[], bool] = lambda: False, *, now: datetime | None = None) -> ExpiryCounts:
        """Queue the reminders that are due and revoke the access that lapsed, as of ``now`` (default: the clock)."""
        now = now or self.clock()
        counts = ExpiryCounts()
        for share_pack_id, deadlines in self._deadlines().items():
            if should_stop():
                break
            counts.deadlines += len(deadlines)
            for deadline in deadlines:
                counts.reminders += self._remind(share_pack_id, deadline, now)
            ended = lapsed(deadlines, now)
            if not ended:
                continue
            try:
                counts.revoked += self._revoke(share_pack_id, ended)
            except Conflict as exc:  # being provisioned, waiting for an approver, or moved meanwhile
                counts.deferred += 1
                log.info("access_expiry.deferred", share_pack_id=str(share_pack_id), reason=exc.message)
            except WorkflowError as exc:  # one pack's trouble does not hold up the others
                counts.failures.append(f"{share_pack_id}: {exc.message}")
                log.warning("access_expiry.failed", share_pack_id=str(share_pack_id), error=exc.message)
        return counts

    # -- what lapses when -------------------------------------------------------------------------------

    def _deadlines(self) -> dict[uuid.UUID, list[Deadline]]:
        found: dict[uuid.UUID, list[Deadline]] = defaultdict(list)
        with self.session_factory() as session:
            for row in session.scalars(select(AccessExpiry).order_by(AccessExpiry.expires_at)):
                found[row.share_pack_id].append(
                    Deadline(row.expires_at, row.recipient_name, row.share_name or None))
            rules = session.execute(
                select(SharePack, ProjectRecertification, PackCertification.certified_at)
                .join(ProjectRecertification, ProjectRecertification.project_id == SharePack.project_id)
                .outerjoin(PackCertification, PackCertification.share_pack_id == SharePack.share_pack_id)
                .where(SharePack.is_current, SharePack.share_pack_status == SharePackStatus.COMPLETED)
            )
            for pack, rule, certified_at in rules:
                if has_grants(SharePackSpec.from_dict(pack.config)):
                    due = recertification_due(certified_at or rule.set_at, rule.set_at, rule.every_days)
                    found[pack.share_pack_id].append(Deadline(due))
        return found

    # -- before -----------------------------------------------------------------------------------------

    def _remind(self, share_pack_id: uuid.UUID, deadline: Deadline, now: datetime) -> int:
        crossed = reminders_due(deadline.due_at, now, self.thresholds)
        if not crossed:
            return 0
        nearest = crossed[-1]
        with self.session_factory.begin() as session:
            recorded = set(session.scalars(
                insert(AccessNotice)
                .values([{"share_pack_id": share_pack_id, "subject": deadline.subject, "due_at": deadline.due_at,
                          "threshold_days": days} for days in crossed])
                .on_conflict_do_nothing()
                .returning(AccessNotice.threshold_days)
            ))
            if nearest not in recorded:
                return 0
            pack = History(session, SharePack).get_current(share_pack_id)
            what = deadline.describe()
            sent = self._mail(
                session, pack,
                subject=f"Access ends in {nearest} day(s) or less: {pack.share_pack_name}",
                body=f"In share pack {pack.share_pack_name} ({pack.share_pack_id}) on {pack.workspace_url}, "
                     f"{what} ends on {deadline.when()}. "
                     + (TO_EXTEND if deadline.recipient else TO_RECERTIFY.format(id=pack.share_pack_id)),
            )
        log.info("access_expiry.reminded", share_pack_id=str(share_pack_id), subject=deadline.subject,
                 threshold_days=nearest, mails=sent)
        return sent

    # -- at the deadline --------------------------------------------------------------------------------

    def _revoke(self, share_pack_id: uuid.UUID, ended: list[Deadline]) -> int:
        """Queue the pack's version without ``ended`` and mail why; 0 when its configuration no longer gives it."""
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).get_current(share_pack_id)
            spec = SharePackSpec.from_dict(pack.config)
            remaining = without(spec, ended)
            self._forget(session, share_pack_id, ended)
            if _grants(remaining) == _grants(spec) and remaining.recipients == spec.recipients:
                return 0  # a revision removed it already
            reason = lapse_reason(ended)
            asker = Asker(pack.workspace_url, request_id=f"expiry-{uuid.uuid4().hex[:12]}", tool=self.tool)
            new = self.workflow.revoke(session, asker, share_pack_id, remaining, reason)
            self._mail(
                session, new,
                subject=f"Access revoked: {new.share_pack_name}",
                body=f"Share pack {new.share_pack_name} ({new.share_pack_id}) on {new.workspace_url}: {reason}. "
                     f"Version {new.version} of the pack revokes it and is being provisioned; its history "
                     "shows the change.",
            )
        log.info("access_expiry.revoked", share_pack_id=str(share_pack_id), version=new.version, reason=reason)
        return 1

    @staticmethod
    def _forget(session: Session, share_pack_id: uuid.UUID, ended: list[Deadline]) -> None:
        for deadline in ended:
            if deadline.recipient is not None:
                session.execute(delete(AccessExpiry).where(
                    AccessExpiry.share_pack_id == share_pack_id,
                    AccessExpiry.recipient_name == deadline.recipient,
                    AccessExpiry.share_name == (deadline.share or EVERY_SHARE),
                ))

    @staticmethod
    def _mail(session: Session, pack: SharePack, *, subject: str, body: str) -> int:
        """Queue one ACCESS_EXPIRY mail to the requestor and each owner and approver of the pack's project."""
        project = History(session, Project).current(pack.project_id) if pack.project_id else None
        owners = member_emails(session, [*project.configurator, *project.approver]) if project else []
        addresses = list(dict.fromkeys(a.lower() for a in (requestor_email(pack), *owners) if a and "@" in a))
        for address in addresses:
            session.add(Notification(
                notification_type=NotificationType.ACCESS_EXPIRY, recipient_email=address, subject=subject,
                body=body, related_entity_type="share_pack", related_entity_id=pack.share_pack_id,
            ))
        return len(addresses)


def _grants(spec: SharePackSpec) -> set[tuple[str, str]]:
    return {(share.name, recipient) for share in spec.shares for recipient in share.recipients}
