"""What provisioning writes to the database: progress, audit and notification rows, history, the end.

Everything here must hold at design scale (1,000 recipients, 500 shares, 20,000 data objects in one pack):
no statement grows with the pack. Reads of many keys pass one array parameter (`= ANY(:keys)`), in chunks;
writes are executemany batches, which SQLAlchemy sends as multi-row INSERTs of bounded size.

Every write is idempotent or reconciled, because a worker can die anywhere:
* the history of recipients, shares and objects is upserted from the pack, so recording twice adds nothing;
* audit rows are written after each step; if the worker dies between a step and its rows, the next attempt
  calls `reconcile` before planning on: whatever the previous plan changed and the workspace now shows done,
  but which has no audit row since that plan was made, gets its row then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, any_, func, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.db import insert_rows
from shared.history import History, audit
from shared.logging import get_logger
from shared.models import (
    AuditEntry,
    DatabricksObject,
    Notification,
    Pipeline,
    Recipient,
    Request,
    Share,
    SharePack,
)
from shared.notifications.activation_links import Activation, ActivationLinkCipher, record_activation
from shared.provisioning.apply import StepResult
from shared.provisioning.pipeline_state import PipelineIds
from shared.provisioning.plan import Action, Change, Entity, Plan
from shared.provisioning.summary import plan_sentences
from shared.share_pack_file.model import (
    DataObjectSpec,
    PipelineSpec,
    RecipientSpec,
    SharePackSpec,
    ShareSpec,
    Strategy,
)
from shared.status import AuditAction, NotificationType, RequestStatus, SharePackStatus

log = get_logger(__name__)

#: Rows per statement when reading or writing many entities (bounded statements, bounded memory).
CHUNK = 5_000
#: Where `Recorder.plan_ready` keeps the database time the plan was made, inside the stored plan.
PLAN_MADE_AT = "made_at"

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One run of the job on one pack: what every record it writes needs to know."""

    share_pack_id: uuid.UUID
    spec: SharePackSpec
    workspace_url: str
    request_id: str | None
    project_id: uuid.UUID | None = None


@dataclass
class Recorder:
    """Writes one worker's provisioning records. Each method is its own transaction unless given a session."""

    session_factory: sessionmaker[Session]
    performed_by: str
    # Encrypts activation links for the sync service to mail; None drops them (see `record_activation`).
    activation_links: ActivationLinkCipher | None = None

    # -- progress -------------------------------------------------------------------------------------

    def status(self, share_pack_id: uuid.UUID, provisioning_status: str, **changes: Any) -> None:
        """Write `provisioning_status` (and other columns) as a new version of the pack."""
        with self.session_factory.begin() as session:
            History(session, SharePack).change(
                share_pack_id,
                changed_by=self.performed_by,
                change_reason="provisioning progress",
                provisioning_status=provisioning_status,
                **changes,
            )
        log.info("provision.step", status=provisioning_status)

    def previous_plan(self, share_pack_id: uuid.UUID) -> tuple[Plan, datetime] | None:
        """The plan an earlier attempt stored and the time it was made, or None if there is none."""
        with self.session_factory() as session:
            stored = session.scalar(
                select(SharePack.plan).where(SharePack.share_pack_id == share_pack_id, SharePack.is_current)
            )
        if not stored or PLAN_MADE_AT not in stored:
            return None
        return Plan.from_dict(stored), datetime.fromisoformat(stored[PLAN_MADE_AT])

    def plan_ready(self, share_pack_id: uuid.UUID, provisioning_status: str, plan: Plan, **changes: Any) -> None:
        """Store the plan (stamped with the database's time) before any of it is applied."""
        with self.session_factory.begin() as session:
            made_at: datetime = session.scalar(select(func.clock_timestamp()))
            History(session, SharePack).change(
                share_pack_id,
                changed_by=self.performed_by,
                change_reason="provisioning progress",
                provisioning_status=provisioning_status,
                plan={**plan.to_dict(), PLAN_MADE_AT: made_at.isoformat()},
                **changes,
            )
            self._advance_request(session, share_pack_id, RequestStatus.IN_PROGRESS)
        log.info("provision.step", status=provisioning_status)

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

    # -- audit and notifications ------------------------------------------------------------------------

    def step(self, result: StepResult, attempt: Attempt, recipient_ids: Mapping[str, str]) -> None:
        """Audit every change the step made in Databricks, make the tables say so at once (a pack that fails
        later still leaves its objects recorded, with their Databricks ids), and hand activation links to
        notifications. ``recipient_ids``: the Databricks id of each recipient known so far, by name."""
        emails = {r.name: r.email for r in attempt.spec.recipients}
        with self.session_factory.begin() as session:
            self._audit_changes(
                session, result.changes, workspace_url=attempt.workspace_url, request_id=attempt.request_id
            )
            self._project(session, result, attempt, recipient_ids)
            for recipient, link in result.activation_links.items():
                activation = Activation(attempt.workspace_url, recipient, emails.get(recipient), link)
                record_activation(
                    session, self.activation_links, activation, about=("share_pack", attempt.share_pack_id)
                )

    def _project(
        self, session: Session, result: StepResult, attempt: Attempt, recipient_ids: Mapping[str, str]
    ) -> None:
        """Write the recipients, shares, objects and pipelines rows the step's changes touched."""
        who = {"changed_by": self.performed_by, "change_reason": f"{attempt.spec.metadata.strategy} share pack"}
        written = {Action.CREATE, Action.UPDATE, Action.REPLACE, Action.ADD}
        touched: dict[Entity, set[str]] = {}
        removed: dict[Entity, set[str]] = {}
        for change in result.changes:
            into = touched if change.action in written else removed if change.action is Action.DELETE else None
            if into is not None:
                into.setdefault(change.entity, set()).add(change.name)
        spec = attempt.spec
        recipients = [r for r in spec.recipients if r.name in touched.get(Entity.RECIPIENT, ())]
        shares = [s for s in spec.shares if s.name in touched.get(Entity.SHARE, ())]
        added = touched.get(Entity.DATA_OBJECT, set())
        objects = {o.name: o for share in spec.shares for o in share.data_objects if o.name in added}
        self._write_recipients(session, recipients, attempt, recipient_ids, who)
        self._write_shares(session, shares, attempt, who)
        self._write_objects(session, objects, attempt.workspace_url, who)
        for entity, model, column in ((Entity.RECIPIENT, Recipient, "recipient_name"),
                                      (Entity.SHARE, Share, "share_name"),
                                      (Entity.PIPELINE, Pipeline, "pipeline_name")):
            if names := sorted(removed.get(entity, ())):
                History(session, model).delete_many(
                    [{"workspace_url": attempt.workspace_url, column: name} for name in names],
                    key=("workspace_url", column), **who,
                )
        pipelines = touched.get(Entity.PIPELINE, set()) | touched.get(Entity.SCHEDULE, set()) | set(result.pipelines)
        pipelines -= removed.get(Entity.PIPELINE, set())
        if pipelines:
            self._write_pipelines(session, [p for p in spec.pipelines if p.name in pipelines], result.pipelines,
                                  attempt, who)

    def reconcile(
        self,
        previous: Plan,
        made_at: datetime,
        current: Plan,
        *,
        workspace_url: str,
        request_id: str | None,
    ) -> int:
        """Audit what `previous` changed that `current` (planned from the workspace) shows done; return how many.

        A change of the previous plan is done when the new plan no longer contains it (the workspace now
        holds what it asked for). Its audit row is missing when no row for that entity and action was
        written since the previous plan was made: the worker died between applying and recording.
        """
        still_to_do = {_identity(change) for change in current.changes}
        done = [change for change in previous.changes if _identity(change) not in still_to_do]
        if not done:
            return 0
        with self.session_factory.begin() as session:
            audited = self._audited_since(session, done, made_at, workspace_url)
            missing = [
                change
                for change in done
                if (str(change.entity), _entity_id(change, workspace_url), _AUDIT_ACTION[change.action]) not in audited
            ]
            self._audit_changes(session, missing, workspace_url=workspace_url, request_id=request_id)
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

    def _audit_changes(
        self, session: Session, changes: Iterable[Change], *, workspace_url: str, request_id: str | None
    ) -> None:
        rows = (
            {
                "entity_type": str(change.entity),
                "entity_id": _entity_id(change, workspace_url),
                "action": _AUDIT_ACTION[change.action],
                "performed_by": self.performed_by,
                "old_values": dict(change.old) or None,
                "new_values": dict(change.new) or None,
                "request_id": request_id,
            }
            for change in changes
        )
        for chunk in _chunks(rows, CHUNK):
            insert_rows(session, AuditEntry.__table__, chunk)

    # -- history ----------------------------------------------------------------------------------------

    def outcome(
        self,
        session: Session,
        share_pack: SharePackSpec,
        attempt: Attempt,
        recipient_ids: Mapping[str, str] | None = None,
    ) -> None:
        """Make the current rows of recipients, shares and objects say what the workspace now holds for
        `share_pack` (the attempt's own spec, or what a rollback removes), and which project owns each."""
        who = {"changed_by": self.performed_by, "change_reason": f"{share_pack.metadata.strategy} share pack"}
        if share_pack.metadata.strategy == Strategy.DELETE:
            for model, column, names in ((Recipient, "recipient_name", [r.name for r in share_pack.recipients]),
                                         (Share, "share_name", [s.name for s in share_pack.shares])):
                History(session, model).delete_many(
                    [{"workspace_url": attempt.workspace_url, column: name} for name in names],
                    key=("workspace_url", column), **who,
                )
            return
        self._write_recipients(session, list(share_pack.recipients), attempt, recipient_ids or {}, who)
        self._write_shares(session, list(share_pack.shares), attempt, who)
        objects = {o.name: o for share in share_pack.shares for o in share.data_objects}
        self._write_objects(session, objects, attempt.workspace_url, who)

    @staticmethod
    def _write_recipients(
        session: Session,
        recipients: Sequence[RecipientSpec],
        attempt: Attempt,
        ids: Mapping[str, str],
        who: Mapping[str, str],
    ) -> None:
        rows = [
            {
                "workspace_url": attempt.workspace_url,
                "recipient_name": recipient.name,
                "share_pack_id": attempt.share_pack_id,
                "project_id": attempt.project_id,
                "recipient_contact_email": recipient.email,
                "recipient_type": recipient.type.value,
                "recipient_databricks_org": recipient.metastore_id,
                "description": recipient.comment,
                "client_ip_addresses": list(recipient.allowed_ips),
                "token_expiry_days": recipient.token_expiry_days,
                "request_source": "share_pack",
                **({"recipient_databricks_id": ids[recipient.name]} if recipient.name in ids else {}),
            }
            for recipient in recipients
        ]
        _upsert_keeping_ids(History(session, Recipient), rows, "recipient_databricks_id",
                            ("workspace_url", "recipient_name"), who)

    @staticmethod
    def _write_shares(
        session: Session, shares: Sequence[ShareSpec], attempt: Attempt, who: Mapping[str, str]
    ) -> None:
        if not shares:
            return
        # Shares have no id of their own in the Databricks API (ShareInfo carries none); every sharing
        # endpoint names a share by its name, so that is what `databricks_share_id` holds.
        History(session, Share).upsert_many(
            [
                {
                    "workspace_url": attempt.workspace_url,
                    "share_name": share.name,
                    "databricks_share_id": share.name,
                    "share_pack_id": attempt.share_pack_id,
                    "project_id": attempt.project_id,
                    "description": share.comment,
                    "share_assets": [
                        {"name": o.name, "type": o.type.value, "shared_as": o.shared_as, "history": o.history}
                        for o in share.data_objects
                    ],
                    "recipients": sorted(share.recipients),
                    "request_source": "share_pack",
                }
                for share in shares
            ],
            key=("workspace_url", "share_name"),
            **who,
        )

    @staticmethod
    def _write_objects(
        session: Session, objects: Mapping[str, DataObjectSpec], workspace_url: str, who: Mapping[str, str]
    ) -> None:
        if not objects:
            return
        History(session, DatabricksObject).upsert_many(
            [
                {
                    "workspace_url": workspace_url,
                    "full_name": name,
                    "object_type": data_object.type.value,
                    **dict(
                        zip(("catalog_name", "schema_name", "table_name"), [*name.split("."), None, None], strict=False)
                    ),
                }
                for name, data_object in objects.items()
            ],
            key=("workspace_url", "full_name"),
            **who,
        )

    def pipelines(
        self,
        session: Session,
        share_pack: SharePackSpec,
        made: Mapping[str, PipelineIds],
        attempt: Attempt,
    ) -> None:
        """Make the current `pipelines` rows say which pipelines (and Databricks ids) the pack now has.

        Rows of this pack's pipelines that it no longer declares (removed with their table, or by a
        DELETE) get a deleted last version.
        """
        who = {"changed_by": self.performed_by, "change_reason": f"{share_pack.metadata.strategy} share pack"}
        declared = {} if share_pack.metadata.strategy == Strategy.DELETE else {p.name: p for p in share_pack.pipelines}
        gone = session.scalars(
            select(Pipeline.pipeline_name).where(
                Pipeline.is_current,
                Pipeline.share_pack_id == attempt.share_pack_id,
                Pipeline.pipeline_name.not_in(list(declared)) if declared else true(),
            )
        ).all()
        if gone:
            History(session, Pipeline).delete_many(
                [{"workspace_url": attempt.workspace_url, "pipeline_name": name} for name in gone],
                key=("workspace_url", "pipeline_name"), **who,
            )
        self._write_pipelines(session, list(declared.values()), made, attempt, who)

    @staticmethod
    def _write_pipelines(
        session: Session,
        pipelines: Sequence[PipelineSpec],
        made: Mapping[str, PipelineIds],
        attempt: Attempt,
        who: Mapping[str, str],
    ) -> None:
        rows = []
        for spec in pipelines:
            ids = made.get(spec.name)
            rows.append({
                "workspace_url": attempt.workspace_url,
                "pipeline_name": spec.name,
                "share_pack_id": attempt.share_pack_id,
                "asset_name": spec.target_table,
                "source_table": spec.source_table,
                "target_table": spec.target_table,
                "scd_type": spec.scd_type.value,
                "key_columns": ",".join(spec.key_columns) or None,
                "schedule_type": "CONTINUOUS" if spec.continuous else ("CRON" if spec.schedule else None),
                "cron_expression": spec.schedule,
                "cron_timezone": spec.timezone if spec.schedule else None,
                "notification_list": list(spec.notification_list),
                "tags": dict(spec.tags),
                "serverless": spec.serverless,
                "request_source": "share_pack",
                # Ids only where this run knows them; a row without them keeps the ones recorded before.
                **({"databricks_pipeline_id": ids.pipeline_id,
                    "databricks_job_id": str(ids.job_id) if ids.job_id is not None else None} if ids else {}),
            })
        _upsert_keeping_ids(History(session, Pipeline), rows, "databricks_pipeline_id",
                            ("workspace_url", "pipeline_name"), who)

    # -- the end ----------------------------------------------------------------------------------------

    def complete(
        self,
        attempt: Attempt,
        *,
        provisioning_status: str,
        pipelines: Mapping[str, PipelineIds] | None = None,
        removed: SharePackSpec | None = None,
        recipient_ids: Mapping[str, str] | None = None,
    ) -> None:
        """Record the outcome and mark the pack COMPLETED, in one transaction.

        ``pipelines`` are the Databricks ids of the pack's pipelines, by name; ``removed`` is what a
        rollback removed besides (a DELETE pack); ``recipient_ids`` the Databricks ids of its recipients.
        """
        with self.session_factory.begin() as session:
            if removed is not None:
                self.outcome(session, removed, attempt)
            self.outcome(session, attempt.spec, attempt, recipient_ids)
            self.pipelines(session, attempt.spec, pipelines or {}, attempt)
            pack = History(session, SharePack).get_current(attempt.share_pack_id)
            self.finish(session, pack, SharePackStatus.COMPLETED, None, provisioning_status)

    def fail(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Mark the pack FAILED for `reason`, keeping its last progress line."""
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).get_current(share_pack_id)
            self.finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")
        log.warning("provision.failed", reason=reason)

    def fail_if_in_progress(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Mark the pack FAILED unless it is unknown or already finished (e.g. for a poisoned message)."""
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).current(share_pack_id)
            if pack is None or pack.share_pack_status != SharePackStatus.IN_PROGRESS:
                return
            self.finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")

    def finish(
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


def _upsert_keeping_ids(
    history: History[Any], rows: Sequence[Mapping[str, Any]], id_column: str, key: tuple[str, str],
    who: Mapping[str, str],
) -> None:
    """Upsert `rows`; a row without `id_column` (its Databricks id not known to this run) keeps the id recorded
    before, as History carries over the columns a row does not name. Rows of one shape go in one statement."""
    for known in (True, False):
        same = [row for row in rows if (id_column in row) is known]
        if same:
            history.upsert_many(same, key=key, **who)


def _asked_by_request(session: Session, share_pack_id: uuid.UUID) -> str | None:
    """The request id of the move that queued this attempt: the latest one on the pack's audit trail."""
    return session.scalar(
        select(AuditEntry.request_id)
        .where(AuditEntry.entity_type == "share_pack", AuditEntry.entity_id == str(share_pack_id),
               AuditEntry.request_id.is_not(None))
        .order_by(AuditEntry.timestamp.desc())
        .limit(1)
    )


def requestor_email(pack: SharePack) -> str | None:
    """Who hears how their pack ended: the pack's requestor (an administrator may upload on someone's behalf,
    and an automation principal's identity is no mailbox), else the authenticated uploader."""
    requestor = ((pack.config or {}).get("metadata") or {}).get("requestor")
    return requestor or pack.requested_by


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
