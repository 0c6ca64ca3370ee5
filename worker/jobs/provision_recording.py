"""What provisioning writes to the database: progress, audit and notification rows, the projection, the end.

Everything here must hold at design scale (1,000 recipients, 500 shares, 20,000 data objects in one pack):
no statement grows with the pack. Reads of many keys pass one array parameter (`= ANY(:keys)`), in chunks;
writes are executemany batches, which SQLAlchemy sends as multi-row INSERTs of bounded size.

The job says what to record as it goes (`AttemptRecords`); the records are written together, in one
transaction, when the job `commit`s them, which it does before each call to the workspace and before it
leaves. So a pack costs a transaction per step, not one per record, and no record waits across a change
in Databricks: what a step did is written with the next step's progress line, before that step starts.

Every write is idempotent or reconciled, because a worker can die anywhere:
* the history of recipients, shares and objects is upserted from the pack, so recording twice adds nothing;
* audit rows are written after each step; if the worker dies between a step and its rows, the next attempt
  calls `reconcile` before planning on: whatever the previous plan changed and the workspace now shows done,
  but which has no audit row since that plan was made, gets its row then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from shared.access_expiry.records import record_completion
from shared.models import AuditEntry, Notification, Request, SharePack
from shared.models.history import History, audit
from shared.notifications.activation_links import Activation, ActivationLinkCipher, record_activation
from shared.notifications.addressees import requestor_email
from shared.platform import metrics
from shared.platform.db import insert_rows
from shared.platform.logging import get_logger
from shared.platform.status import AuditAction, NotificationType, RequestStatus, SharePackStatus
from shared.provisioning.apply import StepResult
from shared.provisioning.plan import Action, Change, Entity, Plan
from shared.provisioning.summary import plan_sentences
from worker.jobs.provision_attempt import Attempt, Outcome
from worker.jobs.provision_projection import TableProjection

log = get_logger(__name__)

#: Rows per statement when reading or writing many entities (bounded statements, bounded memory).
CHUNK = 5_000
#: Where `Recorder.plan_ready` keeps the database time the plan was made, inside the stored plan.
PLAN_MADE_AT = "made_at"

T = TypeVar("T")


@dataclass(frozen=True)
class PreviousPlan:
    """The plan an earlier attempt stored before it applied any of it, and the database time it was made."""

    plan: Plan
    made_at: datetime


def previous_plan(stored: Mapping[str, Any] | None) -> PreviousPlan | None:
    """The earlier attempt's plan in a pack's stored plan column; None if there is none (a preview has no time)."""
    if not stored or PLAN_MADE_AT not in stored:
        return None
    return PreviousPlan(Plan.from_dict(stored), datetime.fromisoformat(stored[PLAN_MADE_AT]))


@dataclass
class Recorder:
    """Writes one worker's provisioning records, each in the transaction of the session it is given."""

    session_factory: sessionmaker[Session]
    performed_by: str
    # Encrypts activation links for the sync service to mail; None drops them (see `record_activation`).
    activation_links: ActivationLinkCipher | None = None
    projection: TableProjection = field(init=False)

    def __post_init__(self) -> None:
        self.projection = TableProjection(self.performed_by)

    def records(self, attempt: Attempt) -> AttemptRecords:
        """An empty batch of records of ``attempt``, to be written together."""
        return AttemptRecords(self, attempt)

    # -- progress -------------------------------------------------------------------------------------

    def status(self, session: Session, attempt: Attempt, provisioning_status: str, changes: Mapping[str, Any]) -> None:
        """Write `provisioning_status` (and other columns) as a new version of the pack."""
        History(session, SharePack).change(
            attempt.share_pack_id,
            changed_by=self.performed_by,
            change_reason="provisioning progress",
            provisioning_status=provisioning_status,
            **changes,
        )
        log.info("provision.step", status=provisioning_status)

    def plan_ready(self, session: Session, attempt: Attempt, provisioning_status: str, plan: Plan) -> None:
        """Store the plan (stamped with the database's time) before any of it is applied, with the attempt's
        tenant and project, and move the pack's request along."""
        made_at: datetime = session.scalar(select(func.clock_timestamp()))
        self.status(session, attempt, provisioning_status, {
            "plan": {**plan.to_dict(), PLAN_MADE_AT: made_at.isoformat()},
            "tenant_id": attempt.tenant_id,
            "project_id": attempt.project_id,
        })
        self._advance_request(session, attempt.share_pack_id, RequestStatus.IN_PROGRESS)

    def _advance_request(self, session: Session, share_pack_id: uuid.UUID, status: RequestStatus) -> None:
        """Move the pack's newest request along with the pack (IN_PROGRESS, then COMPLETED or FAILED).

        A request an approver declined, or one already where it is asked to go, is left as it is.
        """
        request = session.scalars(
            select(Request).where(Request.is_current, Request.share_pack_id == share_pack_id)
            .order_by(Request.effective_from.desc()).limit(1)
        ).one_or_none()
        if request is None or request.status in (status, RequestStatus.DECLINED):
            return
        History(session, Request).change(
            request.request_id, changed_by=self.performed_by, change_reason="provisioning progress", status=status
        )

    # -- audit, notifications and the projection --------------------------------------------------------

    def step(self, session: Session, attempt: Attempt, result: StepResult, recipient_ids: Mapping[str, str]) -> None:
        """Audit every change the step made in Databricks, project it into the tables at once (a pack that fails
        later still leaves its objects recorded, with their Databricks ids), and hand activation links to
        notifications. ``recipient_ids``: the Databricks id of each recipient known so far, by name."""
        self._audit_changes(session, result.changes, attempt)
        self.projection.step(session, attempt, result, recipient_ids)
        emails = {r.name: r.email for r in attempt.spec.recipients}
        for recipient, link in result.activation_links.items():
            activation = Activation(attempt.workspace_url, recipient, emails.get(recipient), link)
            record_activation(
                session, self.activation_links, activation, about=("share_pack", attempt.share_pack_id)
            )

    def reconcile(self, session: Session, attempt: Attempt, previous: PreviousPlan, current: Plan) -> int:
        """Audit what `previous` changed that `current` (planned from the workspace) shows done; return how many.

        A change of the previous plan is done when the new plan no longer contains it (the workspace now
        holds what it asked for). Its audit row is missing when no row for that entity and action was
        written since the previous plan was made: the worker died between applying and recording.
        """
        still_to_do = {_identity(change) for change in current.changes}
        done = [change for change in previous.plan.changes if _identity(change) not in still_to_do]
        if not done:
            return 0
        workspace_url = attempt.workspace_url
        audited = self._audited_since(session, done, previous.made_at, workspace_url)
        missing = [
            change
            for change in done
            if (str(change.entity), _entity_id(change, workspace_url), _AUDIT_ACTION[change.action]) not in audited
        ]
        self._audit_changes(session, missing, attempt)
        if missing:
            log.warning("provision.audit_reconciled", changes=len(missing))
        return len(missing)

    def _audited_since(
        self, session: Session, changes: Sequence[Change], since: datetime, workspace_url: str
    ) -> set[tuple[str, str, str]]:
        ids = sorted({_entity_id(change, workspace_url) for change in changes})
        found: set[tuple[str, str, str]] = set()
        for chunk in _chunks(ids, CHUNK):
            rows = session.execute(
                select(AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.action).where(
                    AuditEntry.entity_id == any_(literal(chunk, type_=ARRAY(String))), AuditEntry.timestamp >= since
                )
            )
            found.update((row.entity_type, row.entity_id, row.action) for row in rows)
        return found

    def _audit_changes(self, session: Session, changes: Iterable[Change], attempt: Attempt) -> None:
        rows = (
            {
                "entity_type": str(change.entity),
                "entity_id": _entity_id(change, attempt.workspace_url),
                "action": _AUDIT_ACTION[change.action],
                "performed_by": self.performed_by,
                "old_values": dict(change.old) or None,
                "new_values": dict(change.new) or None,
                "request_id": attempt.request_id,
            }
            for change in changes
        )
        for chunk in _chunks(rows, CHUNK):
            insert_rows(session, AuditEntry.__table__, chunk)

    # -- the end ----------------------------------------------------------------------------------------

    def complete(self, session: Session, attempt: Attempt, outcome: Outcome) -> None:
        """Project the outcome and mark the pack COMPLETED."""
        self.projection.outcome(session, attempt, outcome)
        pack = History(session, SharePack).get_current(attempt.share_pack_id)
        record_completion(session, pack, by=self.performed_by)  # what expires when, for the sync service
        self._finish(session, pack, SharePackStatus.COMPLETED, None, outcome.provisioning_status)

    def fail(self, session: Session, share_pack_id: uuid.UUID, reason: str) -> None:
        """Mark the pack FAILED for `reason`, keeping its last progress line."""
        pack = History(session, SharePack).get_current(share_pack_id)
        self._finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")
        log.warning("provision.failed", reason=reason)

    def fail_if_in_progress(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Mark the pack FAILED unless it is unknown or already finished (e.g. for a poisoned message), in a
        transaction of its own."""
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).current(share_pack_id)
            if pack is None or pack.share_pack_status != SharePackStatus.IN_PROGRESS:
                return
            self._finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")

    def _finish(
        self,
        session: Session,
        pack: SharePack,
        status: SharePackStatus,
        error: str | None,
        provisioning_status: str,
    ) -> None:
        """Write the final status, its audit row and the requestor's notification."""
        new = History(session, SharePack).change(
            pack.share_pack_id,
            changed_by=self.performed_by,
            change_reason=f"provisioning {status.lower()}",
            share_pack_status=status,
            error_message=error,
            provisioning_status=provisioning_status,
        )
        audit(
            session, ("share_pack", pack.share_pack_id), AuditAction.STATUS_CHANGED, by=self.performed_by,
            old={"share_pack_status": pack.share_pack_status},
            new={"share_pack_status": new.share_pack_status, "error_message": error},
            request_id=_asked_by_request(session, pack.share_pack_id),
        )
        success = status == SharePackStatus.COMPLETED
        self._advance_request(session, pack.share_pack_id, RequestStatus.COMPLETED if success else RequestStatus.FAILED)
        duration = (new.effective_from - pack.created_at).total_seconds()
        metrics.PACKS_FINISHED.labels(status.value, pack.workspace_url).inc()
        metrics.PACK_DURATION.labels(status.value).observe(duration)
        if success:  # the seed's Kusto queries look for this message and its duration
            log.info("Share pack provisioned", share_pack_id=str(pack.share_pack_id), duration_ms=int(duration * 1000))
        session.add(
            Notification(
                notification_type=NotificationType.PROVISION_SUCCESS if success else NotificationType.PROVISION_FAILURE,
                recipient_email=requestor_email(pack),
                subject=f"Share pack {pack.share_pack_name} {'completed' if success else 'failed'} "
                f"({str(pack.share_pack_id)[:8]})",
                body=outcome_mail_body(pack, success=success, provisioning_status=provisioning_status, error=error),
                related_entity_type="share_pack",
                related_entity_id=pack.share_pack_id,
            )
        )


class AttemptRecords:
    """What one attempt has yet to record, in order; `commit` writes it all in one transaction.

    The job commits before every call to the workspace and before it returns or raises, so a record never
    waits across a change in Databricks (see the module's docstring for why that is enough).
    """

    def __init__(self, recorder: Recorder, attempt: Attempt) -> None:
        self._recorder = recorder
        #: The attempt the next records are of: steps 1 and 2 may resolve its tenant and project.
        self.attempt = attempt
        self._writes: list[Callable[[Session], object]] = []

    def status(self, provisioning_status: str, **changes: Any) -> None:
        attempt = self.attempt
        self._writes.append(lambda s: self._recorder.status(s, attempt, provisioning_status, changes))

    def reconcile(self, previous: PreviousPlan, current: Plan) -> None:
        attempt = self.attempt
        self._writes.append(lambda s: self._recorder.reconcile(s, attempt, previous, current))

    def plan_ready(self, provisioning_status: str, plan: Plan) -> None:
        attempt = self.attempt
        self._writes.append(lambda s: self._recorder.plan_ready(s, attempt, provisioning_status, plan))

    def step(self, result: StepResult, recipient_ids: Mapping[str, str]) -> None:
        attempt, ids = self.attempt, dict(recipient_ids)
        self._writes.append(lambda s: self._recorder.step(s, attempt, result, ids))

    def complete(self, outcome: Outcome) -> None:
        attempt = self.attempt
        self._writes.append(lambda s: self._recorder.complete(s, attempt, outcome))

    def fail(self, reason: str) -> None:
        share_pack_id = self.attempt.share_pack_id
        self._writes.append(lambda s: self._recorder.fail(s, share_pack_id, reason))

    def commit(self) -> None:
        """Write what is pending, in one transaction (none when nothing is)."""
        if not self._writes:
            return
        writes, self._writes = self._writes, []
        with self._recorder.session_factory.begin() as session:
            for write in writes:
                write(session)


def outcome_mail_body(pack: SharePack, *, success: bool, provisioning_status: str, error: str | None) -> str:
    """What the requestor reads: which pack, where, how it ended, and what changed for whom, in words."""
    lines = [
        f"Share pack: {pack.share_pack_name}",
        f"SharePackId: {pack.share_pack_id}",
        f"Workspace: {pack.workspace_url}",
        f"Strategy: {pack.strategy}",
    ]
    if success:
        lines.append("Result: completed")
    else:
        lines += ["Result: failed", f"Failed step: {provisioning_status}", f"Error: {error or 'not recorded'}"]
    changes = plan_sentences(pack.plan)
    heading = "What changed" if success else "What the plan was to change (see the pack's history for what was done)"
    lines += ["", f"{heading}:", *(f"- {sentence}" for sentence in changes)] if changes else [
        "", "Nothing needed to change: the workspace already matched the share pack." if success else
        "No plan was made before the failure."]
    return "\n".join(lines)


def _asked_by_request(session: Session, share_pack_id: uuid.UUID) -> str | None:
    """The request id of the move that queued this attempt: the latest one on the pack's audit trail."""
    return session.scalar(
        select(AuditEntry.request_id)
        .where(AuditEntry.entity_type == "share_pack", AuditEntry.entity_id == str(share_pack_id),
               AuditEntry.request_id.is_not(None))
        .order_by(AuditEntry.timestamp.desc())
        .limit(1)
    )


_AUDIT_ACTION = {
    Action.CREATE: AuditAction.CREATED,
    Action.UPDATE: AuditAction.UPDATED,
    Action.DELETE: AuditAction.DELETED,
    Action.ADD: AuditAction.CREATED,
    Action.REMOVE: AuditAction.DELETED,
    Action.GRANT: AuditAction.CREATED,
    Action.REVOKE: AuditAction.DELETED,
    Action.ADOPT: AuditAction.PROVISIONED,
    Action.REPLACE: AuditAction.RECREATED,
}


def _identity(change: Change) -> tuple[str, str, str, str | None]:
    return (change.entity, change.action, change.name, change.share)


def _entity_id(change: Change, workspace_url: str) -> str:
    if change.entity in (Entity.DATA_OBJECT, Entity.GRANT):
        return f"{workspace_url}/{change.share}/{change.name}"
    return f"{workspace_url}/{change.name}"


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
