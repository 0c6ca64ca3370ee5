"""Every move of a share pack to its next state: the one place that versions a pack, audits it and queues it.

A pack moves when someone submits it, revises it, retries it, rolls it back, approves or declines it,
reconciles its drift, or when the sweeper re-queues it. Each move is one transaction that writes the
pack's next version, its audit row (with the request id), the request row the move stands for, and then
either an outbox message (the pack goes to the worker) or the approvers' notifications (it waits for
one). The message is sent once, and only if, the transaction commits (`shared.use_cases.publishing`).

What a move takes and answers is in `shared.use_cases.moves`, the four-eyes rules it asks (and its request
row) in `shared.use_cases.four_eyes`. This module and those two are the only writers of pack versions,
request rows and outbox rows (besides the provisioning job's own progress); `tests/unit/test_house_rules.py`
keeps it so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.access.admission import Admission, admit_upload
from shared.access.approval import latest_request
from shared.access.data_scope import require_in_data_scope
from shared.drift.detect import reconcile_spec
from shared.drift.queries import pack_findings
from shared.models import Project, Request, SharePack, Tenant
from shared.models.history import History, audit
from shared.platform.db import read_only_session
from shared.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.platform.logging import get_logger
from shared.platform.status import AuditAction, RequestStatus, SharePackStatus
from shared.share_pack_file import Issue, ParsedSharePack, SharePackSpec
from shared.use_cases.four_eyes import (
    PENDING,
    Grant,
    latest_grant,
    open_request,
    owners,
    require_decider,
    rollback_grant,
    stored_spec,
)
from shared.use_cases.lifecycle import (
    APPROVED,
    DECLINED,
    PLAN_PREVIEW,
    RETRIED,
    REVISED,
    ROLLBACK_PREFIX,
    UPLOADED,
    RollbackPlanner,
    rollback_target,
)
from shared.use_cases.moves import Asker, Decision, Queued, Reconciliation, RollbackPreview, Verdict
from shared.use_cases.publishing import Dispatch
from shared.use_cases.queries import get_share_pack
from shared.use_cases.submit import (
    Admitted,
    SubmittedSharePack,
    Upload,
    UploadRules,
    admit_before_reading,
    preflight_upload,
    record_rejection,
    share_pack_name,
    validate_upload,
)
from shared.use_cases.versions import Move, Requeuer, forward, next_version

log = get_logger(__name__)

MAX_COMMENT_CHARS = 2000
RECONCILED = "reconcile requested"
#: A pack in flight is provisioned already; one that never passed validation has nothing approved to restore.
RECONCILABLE = frozenset({SharePackStatus.COMPLETED, SharePackStatus.FAILED})


@dataclass(frozen=True)
class Workflow:
    """The share packs' moves for one process; built once in its composition root."""

    session_factory: sessionmaker[Session]
    #: How a move's message is queued in its transaction (`shared.use_cases.publishing.dispatch_for`).
    dispatch: Dispatch
    #: The checks of an upload; None: this process takes no uploads (the worker).
    rules: UploadRules | None = None
    planner: RollbackPlanner = field(default_factory=RollbackPlanner)

    # -- uploads ----------------------------------------------------------------------------------------

    def submit(self, asker: Asker, content: bytes, filename: str) -> SubmittedSharePack:
        """Validate and store an upload as a new pack (version 1), then queue it or hold it for an approver.

        Raises:
            PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all (an audit row records it).
            InvalidSharePack: the file breaks the rules, or the pre-flight finds errors against the workspace
                (an audit row records it; nothing else is stored).
            Forbidden, InvalidInput: the access rules refuse the upload (an audit row records it).
        """
        upload, rules = self._upload(asker, content, filename)
        check = rules.preflight_for(upload.workspace_url) if rules.preflight_for is not None else None
        admitted = None
        # One read-only session for the directory check and the access rules (a connection is taken at its
        # first statement, after the file is parsed), closed before the workspace is read.
        with read_only_session(self.session_factory) as reading:
            parsed, _, target = validate_upload(self.session_factory, reading, upload, rules)
            spec = parsed.spec
            assert spec is not None
            if check is not None:
                # The workspace's tables are only read for callers who may upload to it.
                admitted = self._refusal_recorded(upload, lambda: admit_before_reading(
                    reading, asker.access, spec, asker.workspace_url, target), reading=reading)
        if check is not None:
            assert admitted is not None
            preflight_upload(self.session_factory, upload, partial(check, scope=admitted.scope), parsed)
        row = self._refusal_recorded(upload, lambda: self._store_new(asker, upload, parsed, admitted))
        log.info("share_pack.received", share_pack_id=str(row.share_pack_id), warnings=len(parsed.warnings))
        return SubmittedSharePack(row.share_pack_id, row.share_pack_name, row.share_pack_status, parsed.warnings)

    def revise(self, asker: Asker, share_pack_id: uuid.UUID, content: bytes, filename: str) -> Queued:
        """Store an upload as the next configuration of an existing pack (same SharePackId) and queue it.

        The upload's access rules apply as for a new pack; a revision they hold for approval waits.

        Raises:
            NotFound, Forbidden: no such pack for this caller, or they may not upload for it.
            Conflict: the pack is being provisioned.
            InvalidSharePack, PayloadTooLarge, UnsupportedMediaType: as for an upload.
        """
        with self.session_factory() as session:
            self._changeable(session, asker, share_pack_id, verb="revised")
        upload, rules = self._upload(asker, content, filename)
        with read_only_session(self.session_factory) as reading:
            parsed = validate_upload(self.session_factory, reading, upload, rules).parsed
        spec = parsed.spec
        assert spec is not None
        with self.session_factory.begin() as session:
            pack = self._changeable(session, asker, share_pack_id, verb="revised")
            admission = self._admission(session, asker, spec)
            waits = admission is not None and admission.needs_approval
            new = self._move(session, asker, pack, Move(
                REVISED, AuditAction.UPDATED, _waiting_or_queued(waits), "Queued for provisioning",
                columns={**_configuration(spec), "requested_by": asker.identity, "file_format": parsed.file_format,
                         "original_filename": upload.stored_name,
                         "validation_warnings": [w.to_dict() for w in parsed.warnings]},
            ))
            open_request(session, asker, new, spec, PENDING if waits else Grant())
        return _queued(new, warnings=tuple(parsed.warnings))

    # -- moves of a stored configuration ----------------------------------------------------------------

    def retry(self, asker: Asker, share_pack_id: uuid.UUID) -> Queued:
        """Queue a FAILED pack again as it is; the worker plans anew, so finished work is not redone.

        Raises:
            NotFound, Forbidden: no such pack for this caller, or they may not upload for it.
            Conflict: the pack is not FAILED.
        """
        with self.session_factory.begin() as session:
            pack = self._changeable(session, asker, share_pack_id, verb="retried", only=SharePackStatus.FAILED)
            new = self._move(session, asker, pack, Move(
                RETRIED, AuditAction.STATUS_CHANGED, SharePackStatus.IN_PROGRESS, "Queued for retry",
                columns={"requested_by": asker.identity}))
            open_request(session, asker, new, stored_spec(pack), latest_grant(session, share_pack_id))
        return _queued(new)

    def reconcile(self, asker: Asker, share_pack_id: uuid.UUID) -> Reconciliation:
        """Queue a finished pack again as an UPDATE of its stored configuration, putting back what drifted.

        Raises:
            NotFound, Forbidden: no such pack for this caller, or they configure neither its project nor tenant.
            Conflict: the pack is being provisioned, or was never valid.
        """
        with self.session_factory.begin() as session:
            pack = get_share_pack(session, share_pack_id, workspace_url=asker.workspace_url)
            access = asker.access(session)
            if access is not None:
                access.require_visible(session, pack)
                tenant, project = owners(session, pack)
                access.require_project_configurator(tenant, project, "reconcile its share packs")
            if pack.share_pack_status not in RECONCILABLE:
                raise Conflict(
                    f"Share pack {share_pack_id} is {pack.share_pack_status}; "
                    "only a completed or failed pack can be reconciled"
                )
            spec = reconcile_spec(stored_spec(pack))
            new = self._move(session, asker, pack, Move(
                RECONCILED, AuditAction.STATUS_CHANGED, SharePackStatus.IN_PROGRESS, "Queued for reconciliation",
                # the earlier run's plan must not be taken for an interrupted attempt of this one
                columns={"strategy": spec.metadata.strategy.value, "config": spec.to_dict(), "plan": None,
                         "requested_by": asker.identity},
                note={"strategy": spec.metadata.strategy.value, "reason": "reconcile"},
            ))
            open_request(session, asker, new, spec, latest_grant(session, share_pack_id))
            drift = pack_findings(session, share_pack_id)
        log.info("share_pack.reconcile_queued", share_pack_id=str(share_pack_id), drift=len(drift))
        return Reconciliation(share_pack_id, new.share_pack_status, new.strategy, drift)

    def preview_rollback(self, asker: Asker, share_pack_id: uuid.UUID, to_version: int) -> RollbackPreview:
        """Plan the return to configuration ``to_version`` against the workspace; store and queue nothing.

        Raises:
            NotFound, Forbidden: no such pack for this caller, or they may not upload for it.
            InvalidInput: ``to_version`` is not a configuration version of this pack.
            Conflict: the pack is being provisioned, or an approver declined ``to_version``.
        """
        with self.session_factory() as session:
            pack = self._changeable(session, asker, share_pack_id, verb="rolled back")
            target = rollback_target(session, share_pack_id, to_version)
        plan, warnings = self.planner.plan(target, pack, asker.workspace_url)
        return RollbackPreview(pack.share_pack_id, pack.share_pack_name, pack.version, pack.share_pack_status,
                               warnings, plan)

    def rollback(self, asker: Asker, share_pack_id: uuid.UUID, to_version: int) -> Queued:
        """Queue the workspace's return to configuration ``to_version`` of this pack, its plan shown at once.

        It waits for an approver when the tenant's rule holds the restored configuration, unless an approver
        approved that configuration and going back gives no access the pack does not give now.

        Raises:
            NotFound, Forbidden: no such pack for this caller, or they may not upload for it.
            InvalidInput: ``to_version`` is not a configuration version of this pack.
            Conflict: the pack is being provisioned, changed while the rollback was planned, or an approver
                declined ``to_version``.
        """
        with self.session_factory() as session:
            read = self._changeable(session, asker, share_pack_id, verb="rolled back")
            target = rollback_target(session, share_pack_id, to_version)
            # The restored configuration is held to today's data scope, as an upload is (its requestor stays
            # the one it named; the caller is on the record as the rollback's requester).
            tenant = History(session, Tenant).current(read.tenant_id) if read.tenant_id else None
            if tenant is not None:
                project = History(session, Project).current(read.project_id) if read.project_id else None
                require_in_data_scope(target.restore, tenant, project)
        plan, warnings = self.planner.plan(target, read, asker.workspace_url)  # no transaction open while reading
        with self.session_factory.begin() as session:
            pack = self._changeable(session, asker, share_pack_id, verb="rolled back")
            if pack.version != read.version:
                raise Conflict(
                    f"Share pack {share_pack_id} changed (now version {pack.version}) while its rollback was "
                    "planned; ask again"
                )
            grant = rollback_grant(session, pack, target, plan)
            waits = grant is PENDING
            new = self._move(session, asker, pack, Move(
                f"{ROLLBACK_PREFIX}{to_version}", AuditAction.UPDATED, _waiting_or_queued(waits),
                "Queued for rollback",
                columns={**_configuration(target.restore, target.to_config()), "requested_by": asker.identity,
                         "plan": {**plan.to_dict(), PLAN_PREVIEW: True} if plan is not None else None},
            ))
            open_request(session, asker, new, target.restore, grant)
        return replace(_queued(new), warnings=warnings, plan=plan)

    # -- the approval gate ------------------------------------------------------------------------------

    def approve(self, asker: Asker, share_pack_id: uuid.UUID, verdict: Verdict) -> Decision:
        """Approve version ``verdict.version`` of a pack waiting for approval, and queue it.

        Raises:
            NotFound: no such pack for this caller.
            Forbidden: the caller is not an approver of its project, or requested or changed it since its
                last decision.
            Conflict: the pack is not waiting for approval, or is no longer at ``verdict.version``.
        """
        return self._decide(asker, share_pack_id, verdict, approved=True)

    def decline(self, asker: Asker, share_pack_id: uuid.UUID, verdict: Verdict) -> Decision:
        """Decline version ``verdict.version`` of a pack waiting for approval; it is never provisioned.

        Raises: as `approve`.
        """
        return self._decide(asker, share_pack_id, verdict, approved=False)

    def _decide(self, asker: Asker, share_pack_id: uuid.UUID, verdict: Verdict, *, approved: bool) -> Decision:
        comment = verdict.comment
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise InvalidInput(f"Comment is longer than {MAX_COMMENT_CHARS} characters")
        verb = APPROVED if approved else DECLINED
        by = asker.identity
        with self.session_factory.begin() as session:
            pack = History(session, SharePack).current(share_pack_id)
            if pack is None:
                raise NotFound(f"Share pack {share_pack_id} not found")
            access = asker.access(session)
            if access is not None:
                access.require_visible(session, pack)
                require_decider(access, session, pack)
            if pack.share_pack_status != SharePackStatus.PENDING_APPROVAL:
                raise Conflict(f"Share pack {share_pack_id} is {pack.share_pack_status}, not waiting for approval")
            if verdict.version is None:
                raise InvalidInput(
                    f"Name the version you decide: share pack {share_pack_id} waits at version {pack.version}"
                )
            if verdict.version != pack.version:
                raise Conflict(
                    f"Share pack {share_pack_id} is now version {pack.version}, not version {verdict.version}: "
                    f"it changed after you read it; read version {pack.version} and decide again"
                )
            note = f"{verb.capitalize()} by {by}" + (f": {comment}" if comment else "")
            new = self._move(session, asker, pack, Move(
                verb, AuditAction.APPROVED if approved else AuditAction.DECLINED,
                SharePackStatus.IN_PROGRESS if approved else SharePackStatus.DECLINED,
                f"{note}; queued for provisioning" if approved else note,
                note={"comment": comment, "requested_by": pack.requested_by},
            ))
            request = latest_request(session, share_pack_id)
            if request is not None:
                decided = RequestStatus.APPROVED if approved else RequestStatus.DECLINED
                History(session, Request).change(
                    request.request_id, changed_by=by, change_reason=verb, status=decided, approver_status=decided,
                    approved_by=by, approved_datetime=datetime.now(UTC),
                )
        return Decision(share_pack_id, new.share_pack_status, by, new.version)

    # -- the sweeper ------------------------------------------------------------------------------------

    def requeue(self, session: Session, share_pack_id: uuid.UUID, version: int, tool: str) -> int:
        """Queue again a pack that nothing has touched for a while (`Requeuer.requeue`, which the worker's
        sweeper calls without the rest of the workflow)."""
        return Requeuer(self.dispatch).requeue(session, share_pack_id, version, tool)

    # -- lapsed access (the sync service) ----------------------------------------------------------------

    def revoke(self, session: Session, asker: Asker, share_pack_id: uuid.UUID, spec: SharePackSpec,
               reason: str) -> SharePack:
        """Queue ``spec``, the pack's configuration less the access that lapsed (an expiry, a recertification
        not confirmed), as its next version; ``reason`` is on that version and its audit row.

        Runs in the caller's transaction (which queues the mails that go with it); its message is published
        when that transaction commits.

        Raises:
            Conflict: the pack is being provisioned or waits for an approver (the caller tries again later).
        """
        pack = History(session, SharePack).get_current(share_pack_id)
        if pack.share_pack_status not in RECONCILABLE:
            raise Conflict(f"Share pack {share_pack_id} is {pack.share_pack_status}; lapsed access is revoked "
                           "once it has finished")
        new = self._move(session, asker, pack, Move(
            reason, AuditAction.UPDATED, SharePackStatus.IN_PROGRESS, "Queued to revoke lapsed access",
            columns={**_configuration(spec), "requested_by": asker.identity}, note={"revoked": reason},
        ))
        open_request(session, asker, new, spec, latest_grant(session, share_pack_id))
        return new

    # -- what every move shares ---------------------------------------------------------------------------

    def _move(self, session: Session, asker: Asker, pack: SharePack, move: Move) -> SharePack:
        return next_version(session, asker, pack, move, self.dispatch)

    def _store_new(self, asker: Asker, upload: Upload, parsed: ParsedSharePack, admitted: Admitted | None
                   ) -> SharePack:
        spec = parsed.spec
        assert spec is not None
        now = datetime.now(UTC)
        with self.session_factory.begin() as session:
            if admitted is not None:
                admission = admitted.admission_in(session, spec, asker.workspace_url)
            else:
                admission = self._admission(session, asker, spec)
            waits = admission is not None and admission.needs_approval
            row = History(session, SharePack).create(
                flush=False,  # a new id: flushed with its request and audit rows when the upload commits
                created_by=asker.identity,
                change_reason=UPLOADED,
                share_pack_name=share_pack_name(spec.metadata.requestor, now),
                share_pack_status=_waiting_or_queued(waits),
                provisioning_status="Waiting for an approver" if waits else "Queued for provisioning",
                validation_warnings=[w.to_dict() for w in parsed.warnings],
                file_format=parsed.file_format,
                original_filename=upload.stored_name,
                workspace_url=upload.workspace_url,
                tenant_id=admission.tenant_id if admission else None,
                project_id=admission.project_id if admission else None,
                request_source="api",
                created_at=now,
                requested_by=asker.identity,
                **{**_configuration(spec), "project_name": admission.project_name if admission
                   else spec.metadata.project_name},
            )
            open_request(session, asker, row, spec, PENDING if waits else Grant())
            audit(
                session, ("share_pack", row.share_pack_id), AuditAction.CREATED, by=asker.identity,
                new={
                    "version": row.version,
                    "share_pack_name": row.share_pack_name,
                    "strategy": row.strategy,
                    "original_filename": upload.stored_name,
                    "workspace_url": upload.workspace_url,
                    # An administrator may upload on behalf of someone: both names are on the record.
                    "requestor": spec.metadata.requestor,
                    "requested_by": asker.identity,
                    "share_pack_status": row.share_pack_status,
                },
                request_id=asker.request_id,
            )
            forward(session, row, asker.request_id, self.dispatch)
        return row

    def _upload(self, asker: Asker, content: bytes, filename: str) -> tuple[Upload, UploadRules]:
        if self.rules is None:
            raise InvalidInput("This process takes no uploads")
        return Upload(content, filename, asker.workspace_url, asker.identity, asker.request_id), self.rules

    def _admission(self, session: Session, asker: Asker, spec: SharePackSpec) -> Admission | None:
        access = asker.access(session)
        return admit_upload(session, access, spec, asker.workspace_url) if access is not None else None

    def _refusal_recorded(self, upload: Upload, step: Callable[[], Any], *, reading: Session | None = None) -> Any:
        """Run ``step``; an access rule's refusal leaves the upload's audit row, as every refused upload does
        (``reading``: the session ``step`` read in, see `record_rejection`)."""
        try:
            return step()
        except (Forbidden, InvalidInput) as exc:
            record_rejection(self.session_factory, upload, [exc.message], reading=reading)
            raise

    def _changeable(
        self, session: Session, asker: Asker, share_pack_id: uuid.UUID, *, verb: str, only: str | None = None
    ) -> SharePack:
        """The pack, if the caller may upload for it and it is not being provisioned (``only``: in that status)."""
        pack = get_share_pack(session, share_pack_id, workspace_url=asker.workspace_url)
        access = asker.access(session)
        if access is not None:
            access.require_visible(session, pack)
            tenant, project = owners(session, pack)
            if tenant is not None:
                access.require_uploader(tenant, project)
        if only is not None and pack.share_pack_status != only:
            raise Conflict(
                f"Share pack {share_pack_id} is {pack.share_pack_status}; only a {only} pack can be {verb}"
            )
        if pack.share_pack_status == SharePackStatus.IN_PROGRESS:
            raise Conflict(f"Share pack {share_pack_id} is being provisioned; it can be {verb} when it has finished")
        return pack


def _waiting_or_queued(waits: bool) -> SharePackStatus:
    return SharePackStatus.PENDING_APPROVAL if waits else SharePackStatus.IN_PROGRESS


def _configuration(spec: SharePackSpec, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columns of a version that stores ``spec`` as a new configuration (``config``: its stored form)."""
    return {
        "config": config if config is not None else spec.to_dict(),
        "strategy": spec.metadata.strategy.value,
        "project_name": spec.metadata.project_name,
        "plan": None,  # a new configuration: the previous plan says nothing about it
    }


def _queued(pack: SharePack, warnings: tuple[Issue, ...] = ()) -> Queued:
    return Queued(pack.share_pack_id, pack.share_pack_name, pack.version, pack.share_pack_status, warnings)
