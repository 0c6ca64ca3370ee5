"""A pack after its first upload: retry a FAILED one, upload a revision, roll back to an earlier configuration.

Every status change of a share pack is a version (its history is its timeline), but only some versions
carry a new *configuration*: the upload, each revision and each rollback. Those are what a rollback can
return to, and what the history route marks. Each operation here writes one new version, an audit row and
an outbox message in one transaction, then hands the message to the publisher, like an upload.

A rollback to configuration N stores N's pack as an UPDATE (what N had is re-created or restored
exactly, IP lists and comments included) plus, under `ROLLBACK_KEY`, a DELETE of what later
configurations added that N did not have (`shared.provisioning.plan.make_rollback_plan`). Its plan is
made against the workspace when the rollback is asked for, so it can be shown before it is confirmed and
stored (marked `PLAN_PREVIEW`) for `GET .../plan` at once; the worker plans again when it applies it,
since the workspace may change in between. A workspace that cannot be read within the budget leaves the
plan to the worker, with a warning.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.access.admission import Admission, needs_approval
from shared.access.approvers import notify_approvers
from shared.access.ownership import rollback_preview_plan
from shared.access.policy import Access
from shared.errors import Conflict, InvalidInput
from shared.history import History
from shared.logging import get_logger
from shared.models import AuditEntry, Project, Request, SharePack, Tenant
from shared.preflight import CatalogReader, WorkspaceUnreadable, read_within
from shared.provisioning.plan import Plan
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox
from shared.share_pack_file import FormatLimits, Issue
from shared.share_pack_file.issues import Findings, echo
from shared.share_pack_file.model import Metadata, SharePackSpec, Strategy
from shared.status import AuditAction, RequestStatus, SharePackStatus
from shared.use_cases.queries import get_share_pack
from shared.use_cases.submit import validate_upload

log = get_logger(__name__)

UPLOADED = "uploaded"
REVISED = "revision uploaded"
RETRIED = "retry"
ROLLBACK_PREFIX = "rollback to v"
#: Where a rollback configuration keeps what it removes (a DELETE pack's canonical form).
ROLLBACK_KEY = "rollback"
#: Marks a stored plan as made at request time. It has no `made_at` on purpose: the worker takes only a
#: plan with one for an earlier attempt's (`Recorder.previous_plan`), and replaces this one with its own.
PLAN_PREVIEW = "preview"


def is_configuration(change_reason: str | None) -> bool:
    """Whether a version with this change reason stores a new configuration (not just a status)."""
    return change_reason in (UPLOADED, REVISED) or (change_reason or "").startswith(ROLLBACK_PREFIX)


def rollback_removals(config: Mapping[str, Any]) -> SharePackSpec | None:
    """Return the DELETE pack a rollback configuration carries, or None for any other configuration."""
    rollback = config.get(ROLLBACK_KEY)
    return SharePackSpec.from_dict(rollback["remove"]) if rollback else None


@dataclass(frozen=True)
class Queued:
    """What the caller is told: the pack, its new version and status, and any upload warnings."""

    share_pack_id: uuid.UUID
    share_pack_name: str
    version: int
    status: str
    warnings: tuple[Issue, ...] = ()
    #: A rollback's plan, made when it was asked for (None: the worker makes it); None for other operations.
    plan: Plan | None = None


@dataclass(frozen=True)
class RollbackPreview:
    """A rollback's plan against the workspace as it is now; None, with a warning, when it could not be read."""

    share_pack_id: uuid.UUID
    share_pack_name: str
    version: int
    status: str
    plan: Plan | None
    warnings: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class _RollbackTarget:
    """What a rollback to ``to_version`` restores and removes, as read from the pack at ``version``."""

    pack: SharePack
    to_version: int
    restore: SharePackSpec
    remove: SharePackSpec
    later: tuple[SharePackSpec, ...]


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle operations of the share packs of one deployment."""

    session_factory: sessionmaker[Session]
    queue_name: str
    publish: Callable[[int], object]
    max_upload_bytes: int
    max_token_expiry_days: int = 365
    limits: FormatLimits | None = None
    #: The Azure AD checks of an upload (`shared.graph.validator`), run on a revision as on a new pack.
    check_directory: Callable[[Session, SharePackSpec, Findings], None] | None = None
    #: Who may change the pack: raises NotFound/Forbidden (see `uploader_of`); None: anyone (tests, tools).
    authorize: Callable[[Session, SharePack], None] | None = None
    #: Read access to a workspace, to plan a rollback at request time; None: no credentials, the worker plans.
    reader_for: Callable[[str], CatalogReader] | None = None
    #: How long a rollback request waits for the workspace before leaving its plan to the worker.
    read_budget_seconds: float = 3.0

    def retry(
        self, share_pack_id: uuid.UUID, *, workspace_url: str, performed_by: str, request_id: str | None = None
    ) -> Queued:
        """Queue a FAILED pack again as it is; the worker plans anew, so finished work is not redone.

        Raises:
            NotFound: no such pack in this workspace.
            Conflict: the pack is not FAILED.
        """
        with self.session_factory.begin() as session:
            pack = self._finished(session, share_pack_id, workspace_url, only=SharePackStatus.FAILED, verb="retried")
            queued, outbox_id = self._queue(
                session, pack, performed_by=performed_by, request_id=request_id, reason=RETRIED,
                provisioning_status="Queued for retry", audit=AuditAction.STATUS_CHANGED,
            )
        self._publish(outbox_id)
        return queued

    def revise(
        self,
        share_pack_id: uuid.UUID,
        *,
        content: bytes,
        filename: str,
        workspace_url: str,
        performed_by: str,
        request_id: str | None = None,
        admit: Callable[[Session, SharePackSpec], Admission] | None = None,
    ) -> Queued:
        """Store an upload as the next configuration of an existing pack (same SharePackId) and queue it.

        ``admit`` applies the upload's access rules, as for a new pack; a revision they hold for approval
        waits (PENDING_APPROVAL) instead of being queued.

        Raises:
            NotFound: no such pack in this workspace.
            Conflict: the pack is still being provisioned.
            InvalidSharePack, PayloadTooLarge, UnsupportedMediaType: as for an upload.
        """
        with self.session_factory() as session:
            self._finished(session, share_pack_id, workspace_url, verb="revised")
        parsed = validate_upload(
            self.session_factory, content=content, filename=filename, workspace_url=workspace_url,
            submitted_by=performed_by, max_bytes=self.max_upload_bytes, request_id=request_id,
            max_token_expiry_days=self.max_token_expiry_days, limits=self.limits,
            check_directory=self.check_directory,
        )
        spec = parsed.share_pack
        assert spec is not None
        with self.session_factory.begin() as session:
            pack = self._finished(session, share_pack_id, workspace_url, verb="revised")
            admission = admit(session, spec) if admit is not None else None
            waits = admission is not None and admission.needs_approval
            queued, outbox_id = self._queue(
                session, pack, performed_by=performed_by, request_id=request_id, reason=REVISED,
                provisioning_status="Queued for provisioning", audit=AuditAction.UPDATED, spec=spec, waits=waits,
                file_format=parsed.file_format, original_filename=echo(filename),
                validation_warnings=[w.to_dict() for w in parsed.warnings],
            )
            _new_request(session, pack, spec, performed_by=performed_by, waits=waits)
        self._publish(outbox_id)
        return replace(queued, warnings=tuple(parsed.warnings))

    def preview_rollback(self, share_pack_id: uuid.UUID, to_version: int, *, workspace_url: str) -> RollbackPreview:
        """Plan the return to configuration ``to_version`` against the workspace; store and queue nothing.

        Raises:
            NotFound: no such pack in this workspace.
            InvalidInput: ``to_version`` is not a configuration version of this pack.
            Conflict: the pack is still being provisioned.
        """
        with self.session_factory() as session:
            target = self._rollback_target(session, share_pack_id, to_version, workspace_url)
        plan, warnings = self._plan_rollback(target, workspace_url)
        pack = target.pack
        return RollbackPreview(pack.share_pack_id, pack.share_pack_name, pack.version, pack.share_pack_status,
                               plan, warnings)

    def rollback(
        self,
        share_pack_id: uuid.UUID,
        to_version: int,
        *,
        workspace_url: str,
        performed_by: str,
        request_id: str | None = None,
    ) -> Queued:
        """Queue the workspace's return to configuration ``to_version`` of this pack, its plan shown at once.

        Raises:
            NotFound: no such pack in this workspace.
            InvalidInput: ``to_version`` is not a configuration version of this pack.
            Conflict: the pack is still being provisioned, or changed while the rollback was planned.
        """
        with self.session_factory() as session:
            target = self._rollback_target(session, share_pack_id, to_version, workspace_url)
        plan, warnings = self._plan_rollback(target, workspace_url)  # no transaction open while reading
        restore = target.restore
        config = {**restore.to_dict(), ROLLBACK_KEY: {"to_version": to_version, "remove": target.remove.to_dict()}}
        with self.session_factory.begin() as session:
            pack = self._finished(session, share_pack_id, workspace_url, verb="rolled back")
            if pack.version != target.pack.version:
                raise Conflict(
                    f"Share pack {share_pack_id} changed (now version {pack.version}) while its rollback was "
                    "planned; ask again"
                )
            current = SharePackSpec.from_dict(pack.config)
            tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
            # The approval gate applies when going back gives someone access the pack does not give now.
            waits = (
                tenant is not None
                and widens_access(restore, current, plan=plan, later=target.later)
                and needs_approval(session, tenant, restore, workspace_url)
            )
            queued, outbox_id = self._queue(
                session, pack, performed_by=performed_by, request_id=request_id,
                reason=f"{ROLLBACK_PREFIX}{to_version}", provisioning_status="Queued for rollback",
                audit=AuditAction.UPDATED, spec=restore, config=config, waits=waits,
                plan={**plan.to_dict(), PLAN_PREVIEW: True} if plan is not None else None,
            )
            if waits:
                _new_request(session, pack, restore, performed_by=performed_by, waits=True)
        self._publish(outbox_id)
        return replace(queued, warnings=warnings, plan=plan)

    # -- helpers ----------------------------------------------------------------------------------------

    def _rollback_target(
        self, session: Session, share_pack_id: uuid.UUID, to_version: int, workspace_url: str
    ) -> _RollbackTarget:
        pack = self._finished(session, share_pack_id, workspace_url, verb="rolled back")
        configurations = _configurations(session, share_pack_id)
        if to_version not in configurations:
            listed = ", ".join(f"v{v}" for v in configurations)
            raise InvalidInput(
                f"Version {to_version} of share pack {share_pack_id} is not a configuration; "
                f"its configurations are {listed}"
            )
        target = SharePackSpec.from_dict(configurations[to_version])
        later = tuple(SharePackSpec.from_dict(c) for v, c in configurations.items() if v > to_version)
        restore, remove = rollback_specs(target, later)
        return _RollbackTarget(pack, to_version, restore, remove, later)

    def _plan_rollback(self, target: _RollbackTarget, workspace_url: str) -> tuple[Plan | None, tuple[Issue, ...]]:
        """Plan the rollback against the workspace within the budget; (None, warning) when it cannot."""
        reader_for = self.reader_for
        if reader_for is None:
            reason = "no Databricks credentials are configured"
        else:
            def read_and_plan() -> Plan:
                reader = reader_for(workspace_url)
                state = reader.read_state(target.restore).merged(reader.read_state(target.remove))
                return rollback_preview_plan(self.session_factory, target.pack, target.restore, target.remove, state)

            try:
                return read_within(read_and_plan, budget_seconds=self.read_budget_seconds), ()
            except WorkspaceUnreadable as exc:
                reason = exc.reason
        log.warning("rollback.plan_pending", reason=reason)
        return None, (Issue(path="", message=f"Plan pending: {reason}; the worker plans the rollback when it "
                                             "applies it"),)

    def _publish(self, outbox_id: int | None) -> None:
        if outbox_id is not None:  # None: the pack waits for an approver, who queues it
            self.publish(outbox_id)

    def _finished(
        self, session: Session, share_pack_id: uuid.UUID, workspace_url: str, *, verb: str, only: str | None = None
    ) -> SharePack:
        pack = get_share_pack(session, share_pack_id, workspace_url=workspace_url)
        if self.authorize is not None:
            self.authorize(session, pack)
        if only is not None and pack.share_pack_status != only:
            raise Conflict(
                f"Share pack {share_pack_id} is {pack.share_pack_status}; only a {only} pack can be {verb}"
            )
        if pack.share_pack_status == SharePackStatus.IN_PROGRESS:
            raise Conflict(f"Share pack {share_pack_id} is being provisioned; it can be {verb} when it has finished")
        return pack

    def _queue(
        self,
        session: Session,
        pack: SharePack,
        *,
        performed_by: str,
        request_id: str | None,
        reason: str,
        provisioning_status: str,
        audit: AuditAction,
        spec: SharePackSpec | None = None,
        config: dict[str, Any] | None = None,
        waits: bool = False,
        **columns: Any,
    ) -> tuple[Queued, int | None]:
        """Write the next version (IN_PROGRESS, or PENDING_APPROVAL when it ``waits``), its audit row and,
        unless it waits, its outbox message; return the outbox id."""
        changes: dict[str, Any] = {}
        if spec is not None:
            changes = {
                "config": config if config is not None else spec.to_dict(),
                "strategy": spec.metadata.strategy.value,
                "requested_by": spec.metadata.requestor,
                "project_name": spec.metadata.project_name,
                "plan": None,  # a new configuration: the previous plan says nothing about it
                **columns,
            }
        new = History(session, SharePack).change(
            pack.share_pack_id,
            changed_by=performed_by,
            change_reason=reason,
            expected_version=pack.version,
            share_pack_status=SharePackStatus.PENDING_APPROVAL if waits else SharePackStatus.IN_PROGRESS,
            provisioning_status="Waiting for an approver" if waits else provisioning_status,
            error_message=None,
            **changes,
        )
        session.add(
            AuditEntry(
                entity_type="share_pack",
                entity_id=str(pack.share_pack_id),
                action=audit,
                performed_by=performed_by,
                old_values={"version": pack.version, "status": pack.share_pack_status},
                new_values={"version": new.version, "change_reason": reason},
                request_id=request_id,
            )
        )
        outbox_id = None
        if waits:
            notify_approvers(session, new)
        else:
            outbox_id = add_to_outbox(
                session,
                queue_name=self.queue_name,
                message=ProvisionSharePack(
                    share_pack_id=pack.share_pack_id, version=new.version, request_id=request_id,
                    traceparent=tracing.current_traceparent(),
                ),
            ).id
        return Queued(pack.share_pack_id, new.share_pack_name, new.version, new.share_pack_status), outbox_id


def uploader_of(access: Access) -> Callable[[Session, SharePack], None]:
    """Allow whoever may upload for the pack's project (and sees it) to retry, revise or roll it back."""

    def authorize(session: Session, pack: SharePack) -> None:
        access.require_visible(session, pack)
        tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
        if tenant is not None:
            project = History(session, Project).current(pack.project_id) if pack.project_id else None
            access.require_uploader(tenant, project)

    return authorize


def _new_request(
    session: Session, pack: SharePack, spec: SharePackSpec, *, performed_by: str, waits: bool
) -> None:
    """Make the pack's request the one for this configuration: a new decision is needed if it waits.

    One current request per pack: the worker's approval check reads it (`shared.access.approval`).
    """
    requests = History(session, Request)
    values: dict[str, Any] = {
        "requested_by": spec.metadata.requestor,
        "request_description": spec.metadata.description,
        "status": RequestStatus.PENDING_APPROVAL if waits else RequestStatus.SUBMITTED,
        "approver_status": "PENDING" if waits else None,
        "request_type": spec.metadata.strategy.value,
    }
    current = session.scalar(select(Request).where(Request.is_current, Request.share_pack_id == pack.share_pack_id))
    if current is None:
        requests.create(created_by=performed_by, share_pack_id=pack.share_pack_id, project_id=pack.project_id,
                        **values)
    else:
        requests.change(current.request_id, changed_by=performed_by, change_reason="new configuration", **values)


def widens_access(
    restore: SharePackSpec,
    current: SharePackSpec,
    *,
    plan: Plan | None = None,
    later: Iterable[SharePackSpec] = (),
) -> bool:
    """Whether going back to ``restore`` gives access the pack does not give now.

    It does when it grants a (share, recipient) pair or declares a recipient ``current`` does not, or
    opens a recipient's IP list: clears it or adds an address. The ``plan`` against the workspace says
    which IP lists open; without one (the workspace could not be read), any IP list a ``later``
    configuration declared may be in force, so restoring one that is empty or not inside it counts.
    """
    def grants(spec: SharePackSpec) -> set[tuple[str, str]]:
        if spec.metadata.strategy is Strategy.DELETE:
            return set()
        return {(share.name, recipient) for share in spec.shares for recipient in share.recipients}

    def recipients(spec: SharePackSpec) -> set[str]:
        return set() if spec.metadata.strategy is Strategy.DELETE else {r.name for r in spec.recipients}

    if grants(restore) - grants(current) or recipients(restore) - recipients(current):
        return True
    if plan is not None:
        return any(change.widens_ip_access for change in plan.changes)
    declared = {(r.name, frozenset(r.allowed_ips)) for spec in later for r in spec.recipients if r.allowed_ips}
    return any(
        name == recipient.name and (not recipient.allowed_ips or not set(recipient.allowed_ips) <= ips)
        for recipient in restore.recipients
        for name, ips in declared
    )


def _configurations(session: Session, share_pack_id: uuid.UUID) -> dict[int, dict[str, Any]]:
    """Return the configuration versions of a pack, oldest first: version → stored config."""
    rows = session.execute(
        select(SharePack.version, SharePack.change_reason, SharePack.config)
        .where(SharePack.share_pack_id == share_pack_id)
        .order_by(SharePack.version)
    )
    return {version: config for version, reason, config in rows if is_configuration(reason)}


def rollback_specs(target: SharePackSpec, later: Iterable[SharePackSpec]) -> tuple[SharePackSpec, SharePackSpec]:
    """Return (restore, remove): ``target`` as an UPDATE, and a DELETE of the names later configurations
    declared that ``target`` does not (a DELETE target restores nothing and removes its names too)."""
    later = list(later)
    deleting = target.metadata.strategy is Strategy.DELETE
    keep_recipients = set() if deleting else {r.name for r in target.recipients}
    keep_shares = set() if deleting else {s.name for s in target.shares}
    keep_pipelines = set() if deleting else {p.name for p in target.pipelines}
    sources = [*later, target] if deleting else later
    recipients = {r.name: r for spec in sources for r in spec.recipients if r.name not in keep_recipients}
    shares = {s.name: s for spec in sources for s in spec.shares if s.name not in keep_shares}
    pipelines = {p.name: p for spec in sources for p in spec.pipelines if p.name not in keep_pipelines}
    remove = SharePackSpec(
        metadata=replace(target.metadata, strategy=Strategy.DELETE),
        recipients=tuple(recipients.values()),
        shares=tuple(shares.values()),
        pipelines=tuple(pipelines.values()),
    )
    restore = SharePackSpec(
        metadata=Metadata(**{**vars(target.metadata), "strategy": Strategy.UPDATE}),
        recipients=() if deleting else target.recipients,
        shares=() if deleting else target.shares,
        pipelines=() if deleting else target.pipelines,
    )
    return restore, remove


def configuration_versions(session: Session, share_pack_id: uuid.UUID) -> list[int]:
    """Return the versions of a pack that store a configuration."""
    return list(_configurations(session, share_pack_id))

