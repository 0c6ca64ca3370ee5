"""Provisioning one share pack: the worker's job, as eight reported steps around the engine's plan.

    1 tenant, 2 project, (plan), 3 recipients, 4 shares, 5 data objects, 6 grants, 7 pipelines,
    8 record the outcome

Every step writes `provisioning_status = "Step k/8: ..."` as a new version of the share pack, so the pack's
history is its timeline. The plan is made from what the workspace really holds on *every* attempt, which is
what makes the job resumable: after a crash, a `kill -9` or a fix of the cause, the next attempt plans only
what is still missing and converges, with no duplicates. Two workers never run one pack at once: a
PostgreSQL advisory lock, held on its own connection for the whole job, decides (and dies with the process).

Failures are classified once, by the engine: transient ones (throttling, 5xx, timeouts) raise `RetryLater`
so the message comes back; permanent ones end the pack FAILED with Databricks' own message and the step.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import ConfigurationError, Conflict, WorkflowError
from shared.history import History, snapshot
from shared.logging import get_logger
from shared.models import (
    AuditEntry,
    DatabricksObject,
    Notification,
    Project,
    Recipient,
    Share,
    SharePack,
    Tenant,
)
from shared.provisioning.apply import StepResult, apply_step
from shared.provisioning.errors import (
    ProvisioningError,
    TransientProvisioningError,
)
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.plan import Action, Change, Entity, make_plan
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import SharePackSpec, Strategy
from shared.status import AuditAction, NotificationStatus, NotificationType, SharePackStatus

log = get_logger(__name__)

TOTAL_STEPS = 8
STEP_LABELS = {
    1: "Resolving tenant",
    2: "Resolving project",
    3: "Provisioning recipients",
    4: "Creating shares",
    5: "Adding data objects",
    6: "Granting recipients access",
    7: "Pipelines",
    8: "Recording the outcome",
}
DELETE_LABELS = {
    3: "Removing recipients",
    4: "Removing shares",
    5: "Removing data objects",
    6: "Revoking grants",
}
ENGINE_STEP_NUMBER = {"recipients": 3, "shares": 4, "data_objects": 5, "grants": 6}
RETRY_DELAY_SECONDS = 30


class RetryLater(WorkflowError):
    """A transient failure: leave the message for a later attempt after `delay_seconds`.

    `retry_after_seconds` is the server's `Retry-After`, when it sent one (a floor for the back-off).
    """

    def __init__(
        self, message: str, *, delay_seconds: int = RETRY_DELAY_SECONDS, retry_after_seconds: int | None = None
    ) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds
        self.retry_after_seconds = retry_after_seconds


class SharePackBusy(RetryLater):
    """Another worker holds the pack's lock: try this message again later, and do not count it as a failure."""


class JobInterrupted(WorkflowError):
    """Shutdown was requested (or the message was lost) between steps; another attempt will resume."""


class StopSignal(Protocol):
    def should_stop(self) -> bool: ...


def status_line(step: int, strategy: str, suffix: str = "") -> str:
    """`Step k/8: <label>` (the text users of the original system watch for)."""
    label = DELETE_LABELS.get(step, STEP_LABELS[step]) if strategy == Strategy.DELETE else STEP_LABELS[step]
    return f"Step {step}/{TOTAL_STEPS}: {label}{suffix}"


@dataclass
class ProvisioningJob:
    """Runs share packs against their workspaces. One instance per worker process; thread-safe per call."""

    session_factory: sessionmaker[Session]
    engine: Engine
    gateway_for: Callable[[str], WorkspaceGateway]
    concurrency: int = 8
    retry_delay_seconds: int = RETRY_DELAY_SECONDS
    performed_by: str = f"worker@{socket.gethostname()}"

    def run(self, command: ProvisionSharePack, stop: StopSignal) -> None:
        """Provision the pack `command` names, unless it is finished already or another worker has it."""
        with self.engine.connect() as lock_conn:
            key = _lock_key(command.share_pack_id)
            if not lock_conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
                raise SharePackBusy("another worker is provisioning this share pack")
            try:
                self._run_locked(command, stop)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                lock_conn.commit()

    def mark_failed(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Record a pack as FAILED for a reason found outside the job (e.g. a poisoned message)."""
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).current(share_pack_id)
            if pack is None or pack.share_pack_status != SharePackStatus.IN_PROGRESS:
                return
            self._finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")

    # -- the steps ------------------------------------------------------------------------------------

    def _run_locked(self, command: ProvisionSharePack, stop: StopSignal) -> None:
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).current(command.share_pack_id)
            if pack is None:
                log.warning("provision.unknown_share_pack")
                return
            if pack.share_pack_status != SharePackStatus.IN_PROGRESS:
                log.info("provision.skipped", reason=f"share pack is {pack.share_pack_status}")
                return
            share_pack = SharePackSpec.from_dict(pack.config)
            workspace_url = pack.workspace_url
        strategy = share_pack.metadata.strategy

        self._status(command.share_pack_id, status_line(1, strategy))
        tenant_id = self._resolve_tenant(share_pack)
        self._check_stop(command, stop, 2)
        self._status(command.share_pack_id, status_line(2, strategy), tenant_id=tenant_id)
        project_id = self._resolve_project(share_pack, tenant_id)
        self._check_stop(command, stop, 3)

        try:
            gateway = self.gateway_for(workspace_url)
        except ConfigurationError as exc:  # e.g. no credentials for this workspace: retrying cannot help
            self._fail(command.share_pack_id, f"{status_line(3, strategy)} failed: {exc.message}")
            return
        step_number = 3
        try:
            plan = make_plan(share_pack, gateway.read_state(share_pack))
            self._status(
                command.share_pack_id,
                status_line(3, strategy, " (plan ready)"),
                project_id=project_id,
                plan=plan.to_dict(),
            )
            if not plan.can_apply:
                conflicts = "; ".join(plan.conflicts)
                self._fail(command.share_pack_id, f"The workspace conflicts with the share pack: {conflicts}")
                return
            for engine_step in plan.steps:
                step_number = ENGINE_STEP_NUMBER[engine_step]
                self._check_stop(command, stop, step_number)
                self._status(command.share_pack_id, status_line(step_number, strategy))
                result = apply_step(engine_step, plan, gateway, concurrency=self.concurrency)
                self._record_step(command, result, share_pack, workspace_url)
        except ProvisioningError as exc:
            if exc.partial_result is not None:  # what the failed step did complete is recorded too
                self._record_step(command, exc.partial_result, share_pack, workspace_url)
            if not isinstance(exc, TransientProvisioningError):
                self._fail(command.share_pack_id, _failure_message(step_number, strategy, exc))
                return
            reason = f"{status_line(step_number, strategy)} will be retried: {exc.message}"
            self._status(command.share_pack_id, reason)
            raise RetryLater(
                reason, delay_seconds=self.retry_delay_seconds, retry_after_seconds=exc.retry_after_seconds
            ) from exc

        self._check_stop(command, stop, 7)
        self._status(command.share_pack_id, status_line(7, strategy, ": none declared in this share pack"))
        with self.session_factory.begin() as session:
            self._record_outcome(session, share_pack, workspace_url, command.share_pack_id)
            pack = History(session, SharePack).get_current(command.share_pack_id)
            summary = ", ".join(f"{k}={v}" for k, v in plan.summary().items() if v)
            self._finish(
                session,
                pack,
                SharePackStatus.COMPLETED,
                None,
                f"Step 8/8: Completed ({summary or 'no changes needed'})",
            )
        log.info("provision.completed", changes=len(plan.changes))

    def _resolve_tenant(self, share_pack: SharePackSpec) -> uuid.UUID:
        return self._find_or_create(
            Tenant,
            "business_line_name",
            share_pack.metadata.business_line.strip(),
            scope={},
            values={"contact_email": share_pack.metadata.requestor},
            reason="first share pack of this business line",
        )

    def _resolve_project(self, share_pack: SharePackSpec, tenant_id: uuid.UUID) -> uuid.UUID:
        return self._find_or_create(
            Project,
            "project_name",
            share_pack.metadata.project_name.strip(),
            scope={"tenant_id": tenant_id},
            values={},
            reason="first share pack of this project",
        )

    def _find_or_create(
        self,
        model: type[Tenant | Project],
        name_column: str,
        name: str,
        *,
        scope: dict[str, Any],
        values: dict[str, Any],
        reason: str,
    ) -> uuid.UUID:
        """The business id of the current entity called `name` (case-insensitively) in `scope`; created if new.

        Two workers creating the same new entity at once are settled by the database's unique index: the
        loser gets a Conflict, looks again, and finds the winner's.
        """
        for attempt in (1, 2):
            try:
                with self.session_factory.begin() as session:
                    history = History(session, model)
                    for row in history.find_current(**scope):
                        if getattr(row, name_column).lower() == name.lower():
                            return getattr(row, model.__business_key__)
                    created = history.create(
                        created_by=self.performed_by, change_reason=reason, **{name_column: name}, **scope, **values
                    )
                    business_id = getattr(created, model.__business_key__)
                    self._audit(
                        session, _ENTITY_TYPE[model], str(business_id), AuditAction.CREATED, None, snapshot(created)
                    )
                    return business_id
            except Conflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _record_step(
        self, command: ProvisionSharePack, result: StepResult, share_pack: SharePackSpec, workspace_url: str
    ) -> None:
        """Audit every change the step made in Databricks; hand activation links to notifications."""
        emails = {r.name: r.email for r in share_pack.recipients}
        with self.session_factory.begin() as session:
            if result.changes:  # a big share adds thousands of rows: one bulk INSERT, not one object each
                session.execute(
                    insert(AuditEntry),
                    [
                        {
                            "entity_type": str(change.entity),
                            "entity_id": _entity_id(change, workspace_url),
                            "action": _AUDIT_ACTION[change.action],
                            "performed_by": self.performed_by,
                            "old_values": dict(change.old) or None,
                            "new_values": dict(change.new) or None,
                            "request_id": command.request_id,
                        }
                        for change in result.changes
                    ],
                )
            for recipient, link in result.activation_links.items():
                session.add(
                    Notification(
                        notification_type=NotificationType.RECIPIENT_ACTIVATION,
                        recipient_email=emails.get(recipient),
                        subject=f"Your Delta Sharing access to {workspace_url} is ready",
                        body=f"Recipient {recipient}: download your credential once, from {link}",
                        related_entity_type="share_pack",
                        related_entity_id=command.share_pack_id,
                        status=NotificationStatus.PENDING,
                    )
                )

    def _record_outcome(
        self, session: Session, share_pack: SharePackSpec, workspace_url: str, share_pack_id: uuid.UUID
    ) -> None:
        """Make the current rows of recipients, shares and objects say what the workspace now holds."""
        who = {"changed_by": self.performed_by, "change_reason": f"{share_pack.metadata.strategy} share pack"}
        recipients, shares = History(session, Recipient), History(session, Share)
        objects = History(session, DatabricksObject)
        if share_pack.metadata.strategy == Strategy.DELETE:
            for recipient in share_pack.recipients:
                recipients.delete_current({"workspace_url": workspace_url, "recipient_name": recipient.name}, **who)
            for share in share_pack.shares:
                shares.delete_current({"workspace_url": workspace_url, "share_name": share.name}, **who)
            return
        recipients.upsert_many(
            [
                {
                    "workspace_url": workspace_url,
                    "recipient_name": recipient.name,
                    "share_pack_id": share_pack_id,
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
        objects.upsert_many(
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

    # -- status bookkeeping -----------------------------------------------------------------------------

    def _status(self, share_pack_id: uuid.UUID, provisioning_status: str, **changes: Any) -> None:
        with self.session_factory.begin() as session:
            History(session, SharePack).change(
                share_pack_id,
                changed_by=self.performed_by,
                change_reason="provisioning progress",
                provisioning_status=provisioning_status,
                **changes,
            )
        log.info("provision.step", status=provisioning_status)

    def _fail(self, share_pack_id: uuid.UUID, reason: str) -> None:
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).get_current(share_pack_id)
            self._finish(session, pack, SharePackStatus.FAILED, reason, pack.provisioning_status or "")
        log.warning("provision.failed", reason=reason)

    def _finish(
        self,
        session: Session,
        pack: SharePack,
        status: SharePackStatus,
        error: str | None,
        provisioning_status: str,
    ) -> None:
        new = History(session, SharePack).change(
            pack.share_pack_id,
            changed_by=self.performed_by,
            change_reason=f"provisioning {status.lower()}",
            share_pack_status=status,
            error_message=error,
            provisioning_status=provisioning_status,
        )
        self._audit(
            session,
            "share_pack",
            str(pack.share_pack_id),
            AuditAction.STATUS_CHANGED,
            {"share_pack_status": pack.share_pack_status},
            {"share_pack_status": new.share_pack_status, "error_message": error},
        )
        success = status == SharePackStatus.COMPLETED
        session.add(
            Notification(
                notification_type=NotificationType.PROVISION_SUCCESS if success else NotificationType.PROVISION_FAILURE,
                recipient_email=pack.requested_by,
                subject=f"{pack.share_pack_name} {'completed' if success else 'failed'}",
                body=provisioning_status if success else f"{provisioning_status}\n{error}",
                related_entity_type="share_pack",
                related_entity_id=pack.share_pack_id,
            )
        )

    def _audit(
        self,
        session: Session,
        entity_type: str,
        entity_id: str,
        action: AuditAction,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        *,
        request_id: str | None = None,
    ) -> None:
        session.add(
            AuditEntry(
                entity_type=entity_type,
                entity_id=entity_id,
                action=action,
                performed_by=self.performed_by,
                old_values=old,
                new_values=new,
                request_id=request_id,
            )
        )

    def _check_stop(self, command: ProvisionSharePack, stop: StopSignal, next_step: int) -> None:
        if stop.should_stop():
            self._status(command.share_pack_id, f"Interrupted before step {next_step}/{TOTAL_STEPS}; will resume")
            raise JobInterrupted("shutdown requested between steps")


_ENTITY_TYPE = {Tenant: "tenant", Project: "project"}

_AUDIT_ACTION = {
    Action.CREATE: AuditAction.CREATED,
    Action.UPDATE: AuditAction.UPDATED,
    Action.DELETE: AuditAction.DELETED,
    Action.ADD: AuditAction.CREATED,
    Action.REMOVE: AuditAction.DELETED,
    Action.GRANT: AuditAction.CREATED,
    Action.REVOKE: AuditAction.DELETED,
    Action.ADOPT: AuditAction.PROVISIONED,
}


def _entity_id(change: Change, workspace_url: str) -> str:
    if change.entity in (Entity.DATA_OBJECT, Entity.GRANT):
        return f"{workspace_url}/{change.share}/{change.name}"
    return f"{workspace_url}/{change.name}"


def _failure_message(step: int, strategy: str, exc: ProvisioningError) -> str:
    code = f" [{exc.error_code}]" if getattr(exc, "error_code", None) else ""
    return f"{status_line(step, strategy)} failed: {exc.message}{code}"


def _lock_key(share_pack_id: uuid.UUID) -> int:
    return int.from_bytes(share_pack_id.bytes[:8], "big", signed=True)
