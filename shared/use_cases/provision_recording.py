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
from shared.models import AuditEntry, DatabricksObject, Notification, Pipeline, Recipient, Share, SharePack
from shared.notifications.activation_links import ActivationLinkCipher, record_activation
from shared.provisioning.apply import StepResult
from shared.provisioning.pipeline_state import PipelineIds
from shared.provisioning.plan import Action, Change, Entity, Plan
from shared.share_pack_file.model import SharePackSpec, Strategy
from shared.status import AuditAction, NotificationType, SharePackStatus

log = get_logger(__name__)

#: Rows per statement when reading or writing many entities (bounded statements, bounded memory).
CHUNK = 5_000
#: Where `Recorder.plan_ready` keeps the database time the plan was made, inside the stored plan.
PLAN_MADE_AT = "made_at"

T = TypeVar("T")


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
        log.info("provision.step", status=provisioning_status)

    # -- audit and notifications ------------------------------------------------------------------------

    def step(
        self,
        result: StepResult,
        *,
        share_pack: SharePackSpec,
        share_pack_id: uuid.UUID,
        workspace_url: str,
        request_id: str | None,
    ) -> None:
        """Audit every change the step made in Databricks; hand activation links to notifications."""
        emails = {r.name: r.email for r in share_pack.recipients}
        with self.session_factory.begin() as session:
            self._audit_changes(session, result.changes, workspace_url=workspace_url, request_id=request_id)
            for recipient, link in result.activation_links.items():
                record_activation(
                    session,
                    self.activation_links,
                    recipient_name=recipient,
                    recipient_email=emails.get(recipient),
                    link=link,
                    workspace_url=workspace_url,
                    related_entity_type="share_pack",
                    related_entity_id=share_pack_id,
                )

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
        *,
        workspace_url: str,
        share_pack_id: uuid.UUID,
        project_id: uuid.UUID | None = None,
    ) -> None:
        """Make the current rows of recipients, shares and objects say what the workspace now holds, and
        which project owns each recipient and share (issue 9)."""
        who = {"changed_by": self.performed_by, "change_reason": f"{share_pack.metadata.strategy} share pack"}
        recipients, shares = History(session, Recipient), History(session, Share)
        if share_pack.metadata.strategy == Strategy.DELETE:
            recipients.delete_many(
                [{"workspace_url": workspace_url, "recipient_name": r.name} for r in share_pack.recipients],
                key=("workspace_url", "recipient_name"),
                **who,
            )
            shares.delete_many(
                [{"workspace_url": workspace_url, "share_name": s.name} for s in share_pack.shares],
                key=("workspace_url", "share_name"),
                **who,
            )
            return
        recipients.upsert_many(
            [
                {
                    "workspace_url": workspace_url,
                    "recipient_name": recipient.name,
                    "share_pack_id": share_pack_id,
                    "project_id": project_id,
                    "recipient_contact_email": recipient.email,
                    "recipient_type": recipient.type.value,
                    "recipient_databricks_org": recipient.metastore_id,
                    "description": recipient.comment,
                    "client_ip_addresses": list(recipient.allowed_ips),
                    "token_expiry_days": recipient.token_expiry_days,
                    "request_source": "share_pack",
                }
                for recipient in share_pack.recipients
            ],
            key=("workspace_url", "recipient_name"),
            **who,
        )
        shares.upsert_many(
            [
                {
                    "workspace_url": workspace_url,
                    "share_name": share.name,
                    "share_pack_id": share_pack_id,
                    "project_id": project_id,
                    "description": share.comment,
                    "share_assets": [
                        {"name": o.name, "type": o.type.value, "shared_as": o.shared_as, "history": o.history}
                        for o in share.data_objects
                    ],
                    "recipients": sorted(share.recipients),
                    "request_source": "share_pack",
                }
                for share in share_pack.shares
            ],
            key=("workspace_url", "share_name"),
            **who,
        )
        shared_objects = {o.name: o for share in share_pack.shares for o in share.data_objects}
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
                for name, data_object in shared_objects.items()
            ],
            key=("workspace_url", "full_name"),
            **who,
        )

    def pipelines(
        self,
        session: Session,
        share_pack: SharePackSpec,
        made: Mapping[str, PipelineIds],
        *,
        share_pack_id: uuid.UUID,
        workspace_url: str,
    ) -> None:
        """Make the current `pipelines` rows say which pipelines (and Databricks ids) the pack now has.

        Rows of this pack's pipelines that it no longer declares (removed with their table, or by a
        DELETE) get a deleted last version.
        """
        who = {"changed_by": self.performed_by, "change_reason": f"{share_pack.metadata.strategy} share pack"}
        history = History(session, Pipeline)
        declared = {} if share_pack.metadata.strategy == Strategy.DELETE else {p.name: p for p in share_pack.pipelines}
        gone = session.scalars(
            select(Pipeline.pipeline_name).where(
                Pipeline.is_current,
                Pipeline.share_pack_id == share_pack_id,
                Pipeline.pipeline_name.not_in(list(declared)) if declared else true(),
            )
        ).all()
        key = ("workspace_url", "pipeline_name")  # names are unique per workspace
        if gone:
            history.delete_many(
                [{"workspace_url": workspace_url, "pipeline_name": name} for name in gone], key=key, **who
            )
        rows = []
        for name, spec in declared.items():
            ids = made.get(name) or PipelineIds()
            rows.append({
                "workspace_url": workspace_url,
                "pipeline_name": name,
                "share_pack_id": share_pack_id,
                "asset_name": spec.target_table,
                "databricks_pipeline_id": ids.pipeline_id,
                "databricks_job_id": str(ids.job_id) if ids.job_id is not None else None,
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
            })
        if rows:
            history.upsert_many(rows, key=key, **who)

    # -- the end ----------------------------------------------------------------------------------------

    def complete(
        self,
        share_pack_id: uuid.UUID,
        share_pack: SharePackSpec,
        *,
        workspace_url: str,
        provisioning_status: str,
        project_id: uuid.UUID | None = None,
        pipelines: Mapping[str, PipelineIds] | None = None,
        removed: SharePackSpec | None = None,
    ) -> None:
        """Record the outcome and mark the pack COMPLETED, in one transaction.

        ``pipelines`` are the Databricks ids of the pack's pipelines, by name;
        ``removed`` is what a rollback removed besides (a DELETE pack).
        """
        with self.session_factory.begin() as session:
            if removed is not None:
                self.outcome(
                    session, removed, workspace_url=workspace_url, share_pack_id=share_pack_id, project_id=project_id
                )
            self.outcome(
                session, share_pack, workspace_url=workspace_url, share_pack_id=share_pack_id, project_id=project_id
            )
            self.pipelines(
                session, share_pack, pipelines or {}, share_pack_id=share_pack_id, workspace_url=workspace_url
            )
            pack = History(session, SharePack).get_current(share_pack_id)
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
        duration = (new.effective_from - pack.created_at).total_seconds()
        metrics.PACKS_FINISHED.labels(status.value, pack.workspace_url).inc()
        metrics.PACK_DURATION.labels(status.value).observe(duration)
        if success:  # the seed's Kusto queries look for this message and its duration
            log.info("Share pack provisioned", share_pack_id=str(pack.share_pack_id), duration_ms=int(duration * 1000))
        session.add(
            Notification(
                notification_type=NotificationType.PROVISION_SUCCESS if success else NotificationType.PROVISION_FAILURE,
                recipient_email=requestor_email(pack),
                subject=f"{pack.share_pack_name} {'completed' if success else 'failed'}",
                body=provisioning_status if success else f"{provisioning_status}\n{error}",
                related_entity_type="share_pack",
                related_entity_id=pack.share_pack_id,
            )
        )


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
