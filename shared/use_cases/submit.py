"""Submitting an upload: validate, store with history, and queue — losing nothing on the way.

One transaction stores the share pack (version 1, IN_PROGRESS), its request, an audit row and an outbox
message. After the commit the outbox row is handed to the publisher; when the queue is unreachable the row
waits for the relay, so the upload still succeeds and is provisioned once the queue is back.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.access.admission import Admission
from shared.access.approvers import notify_approvers
from shared.errors import Forbidden, InvalidInput
from shared.history import History
from shared.logging import get_logger
from shared.models import AuditEntry, Request, SharePack
from shared.preflight import PreflightReport
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox
from shared.settings import Settings
from shared.share_pack_file import FormatLimits, Issue, ParsedSharePack, SharePackSpec, parse_share_pack
from shared.share_pack_file.issues import Findings, echo
from shared.status import AuditAction, RequestStatus, SharePackStatus

log = get_logger(__name__)


class InvalidSharePack(InvalidInput):
    """The upload parsed but breaks the share pack rules; carries every error and warning."""

    def __init__(self, errors: list[Issue], warnings: list[Issue]) -> None:
        count = len(errors)
        super().__init__(f"The share pack has {count} error{'s' if count != 1 else ''}; nothing was stored")
        self.errors = errors
        self.warnings = warnings


@dataclass(frozen=True)
class SubmittedSharePack:
    """What the requestor is told after an accepted upload."""

    share_pack_id: uuid.UUID
    share_pack_name: str
    status: str
    warnings: list[Issue]


def format_limits(settings: Settings) -> FormatLimits:
    """The share pack file bounds this deployment is configured with."""
    return FormatLimits(
        max_comment_chars=settings.max_comment_chars,
        max_sheet_rows=settings.max_sheet_rows,
        max_sheet_columns=settings.max_sheet_columns,
        max_sheet_cells=settings.max_sheet_cells,
    )


def share_pack_name(requestor: str, moment: datetime) -> str:
    """`SharePack_<requestor>_<YYYYMMDD_HHMMSS>`, the name existing users' scripts expect."""
    return f"SharePack_{requestor}_{moment.strftime('%Y%m%d_%H%M%S')}"


def submit_share_pack(
    session_factory: sessionmaker[Session],
    *,
    content: bytes,
    filename: str,
    workspace_url: str,
    submitted_by: str,
    queue_name: str,
    max_bytes: int,
    publish: Callable[[int], object],
    request_id: str | None = None,
    preflight: Callable[[SharePackSpec], PreflightReport] | None = None,
    max_token_expiry_days: int = 365,
    admit: Callable[[Session, SharePackSpec], Admission] | None = None,
    limits: FormatLimits | None = None,
    check_directory: Callable[[Session, SharePackSpec, Findings], None] | None = None,
) -> SubmittedSharePack:
    """Validate and store an upload, then hand its committed outbox row to `publish`.

    `admit` applies the access rules (shared.access.admission) inside the storing transaction; a pack it
    holds for approval is stored as PENDING_APPROVAL and not queued. `check_directory` (the Azure AD
    validator, `shared.graph.validator`) adds errors and warnings about who the pack names; it runs before
    the storing transaction opens, so its Graph calls never hold one.

    Raises:
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all (an audit row records it).
        InvalidSharePack: the file breaks the rules, or `preflight` finds errors against the workspace
            (an audit row records it; nothing else is stored).
        Forbidden, InvalidInput: `admit` refused the upload (an audit row records it; nothing else is stored).
    """
    # The name comes from the client: stored and shown, so bounded and printable (PostgreSQL refuses NUL).
    stored_name = echo(filename)
    parsed = validate_upload(
        session_factory,
        content=content,
        filename=filename,
        workspace_url=workspace_url,
        submitted_by=submitted_by,
        max_bytes=max_bytes,
        request_id=request_id,
        max_token_expiry_days=max_token_expiry_days,
        limits=limits,
        check_directory=check_directory,
    )
    if preflight is not None:
        if admit is not None:  # the workspace's tables are only for callers who may upload to it
            try:
                with session_factory() as session:
                    admit(session, parsed.share_pack)
            except (Forbidden, InvalidInput) as exc:
                _record_rejection(session_factory, stored_name, content, submitted_by, request_id, [exc.message])
                raise
        report = preflight(parsed.share_pack)
        parsed.warnings.extend(report.warnings)
        if report.errors:
            _record_rejection(
                session_factory, stored_name, content, submitted_by, request_id, [e.to_dict() for e in report.errors]
            )
            raise InvalidSharePack(report.errors, parsed.warnings)
    pack = parsed.share_pack
    assert pack is not None
    now = datetime.now(UTC)
    try:
        return _store(session_factory, parsed, pack, now, stored_name, workspace_url, submitted_by, queue_name,
                      publish, request_id, admit)
    except (Forbidden, InvalidInput) as exc:
        _record_rejection(session_factory, stored_name, content, submitted_by, request_id, [exc.message])
        raise


def _store(
    session_factory: sessionmaker[Session],
    parsed: ParsedSharePack,
    pack: SharePackSpec,
    now: datetime,
    stored_name: str,
    workspace_url: str,
    submitted_by: str,
    queue_name: str,
    publish: Callable[[int], object],
    request_id: str | None,
    admit: Callable[[Session, SharePackSpec], Admission] | None,
) -> SubmittedSharePack:
    with session_factory.begin() as session:
        admission = admit(session, pack) if admit is not None else None
        waits = admission is not None and admission.needs_approval
        requested_by = admission.requested_by if admission else pack.metadata.requestor
        row = History(session, SharePack).create(
            created_by=submitted_by,
            change_reason="uploaded",
            share_pack_name=share_pack_name(pack.metadata.requestor, now),
            share_pack_status=SharePackStatus.PENDING_APPROVAL if waits else SharePackStatus.IN_PROGRESS,
            provisioning_status="Waiting for an approver" if waits else "Queued for provisioning",
            requested_by=requested_by,
            strategy=pack.metadata.strategy.value,
            config=pack.to_dict(),
            validation_warnings=[w.to_dict() for w in parsed.warnings],
            file_format=parsed.file_format,
            original_filename=stored_name,
            workspace_url=workspace_url,
            project_name=admission.project_name if admission else pack.metadata.project_name,
            tenant_id=admission.tenant_id if admission else None,
            project_id=admission.project_id if admission else None,
            request_source="api",
            created_at=now,
        )
        History(session, Request).create(
            created_by=submitted_by,
            share_pack_id=row.share_pack_id,
            project_id=row.project_id,
            requested_by=requested_by,
            request_description=pack.metadata.description,
            status=RequestStatus.PENDING_APPROVAL if waits else RequestStatus.SUBMITTED,
            approver_status="PENDING" if waits else None,
            request_type=pack.metadata.strategy.value,
        )
        session.add(
            AuditEntry(
                entity_type="share_pack",
                entity_id=str(row.share_pack_id),
                action=AuditAction.CREATED,
                performed_by=submitted_by,
                new_values={
                    "share_pack_name": row.share_pack_name,
                    "strategy": row.strategy,
                    "original_filename": stored_name,
                    "workspace_url": workspace_url,
                    # An administrator may upload on behalf of someone: both names are on the record.
                    "requestor": pack.metadata.requestor,
                    "requested_by": requested_by,
                    "share_pack_status": row.share_pack_status,
                },
                request_id=request_id,
            )
        )
        outbox_id = None
        if waits:
            notify_approvers(session, row)
        else:
            outbox_id = add_to_outbox(
                session,
                queue_name=queue_name,
                message=ProvisionSharePack(
                    share_pack_id=row.share_pack_id, version=row.version, request_id=request_id,
                    traceparent=tracing.current_traceparent(),
                ),
            ).id
    if outbox_id is not None:
        publish(outbox_id)
    log.info("share_pack.received", share_pack_id=str(row.share_pack_id), warnings=len(parsed.warnings))
    return SubmittedSharePack(
        share_pack_id=row.share_pack_id,
        share_pack_name=row.share_pack_name,
        status=row.share_pack_status,
        warnings=parsed.warnings,
    )


def validate_upload(
    session_factory: sessionmaker[Session],
    *,
    content: bytes,
    filename: str,
    workspace_url: str,
    submitted_by: str,
    max_bytes: int,
    request_id: str | None = None,
    max_token_expiry_days: int = 365,
    limits: FormatLimits | None = None,
    check_directory: Callable[[Session, SharePackSpec, Findings], None] | None = None,
) -> ParsedSharePack:
    """Parse and validate an upload for ``workspace_url``; a refused one leaves an audit row and raises.

    `check_directory` (the Azure AD validator, `shared.graph.validator`) adds errors and warnings about who the
    pack names; it runs outside any storing transaction, so its Graph calls never hold one.

    Raises:
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all.
        InvalidSharePack: the file breaks the rules.
    """
    stored_name = echo(filename)
    try:
        parsed = parse_share_pack(content, filename=filename, max_bytes=max_bytes, limits=limits)
    except InvalidInput as exc:
        _record_rejection(session_factory, stored_name, content, submitted_by, request_id, [str(exc)])
        raise
    errors = list(parsed.errors)
    errors.extend(_workspace_mismatch(parsed, workspace_url))
    errors.extend(_token_expiry_over_limit(parsed, max_token_expiry_days))
    if errors or parsed.share_pack is None:
        _record_rejection(
            session_factory, stored_name, content, submitted_by, request_id, [e.to_dict() for e in errors]
        )
        raise InvalidSharePack(errors, parsed.warnings)
    if check_directory is not None:
        findings = Findings()
        with session_factory() as session:
            check_directory(session, parsed.share_pack, findings)
        parsed.warnings = [*parsed.warnings, *findings.warnings]
        if findings.errors:
            _record_rejection(
                session_factory, stored_name, content, submitted_by, request_id, [e.to_dict() for e in findings.errors]
            )
            raise InvalidSharePack(findings.errors, parsed.warnings)
    return parsed


def _workspace_mismatch(parsed: ParsedSharePack, workspace_url: str) -> list[Issue]:
    declared = parsed.share_pack.metadata.workspace_url if parsed.share_pack else None
    if declared and declared.rstrip("/").lower() != workspace_url:
        return [
            Issue(
                path="metadata.workspace_url",
                message=f"The share pack names workspace {declared} but was uploaded for {workspace_url}",
                location={},
            )
        ]
    return []


def _token_expiry_over_limit(parsed: ParsedSharePack, max_days: int) -> list[Issue]:
    """D2O token lifetimes above this deployment's maximum (setting `token_expiry_max_days`)."""
    recipients = parsed.share_pack.recipients if parsed.share_pack else ()
    return [
        Issue(
            path=f"recipient[{index}].token_expiry_days",
            message=f"Recipient {r.name}: token_expiry_days {r.token_expiry_days} is above this deployment's "
            f"maximum of {max_days} days",
            location={},
        )
        for index, r in enumerate(recipients)
        if r.token_expiry_days is not None and r.token_expiry_days > max_days
    ]


def _record_rejection(
    session_factory: sessionmaker[Session],
    filename: str,
    content: bytes,
    submitted_by: str,
    request_id: str | None,
    errors: list,
) -> None:
    """Keep an audit record of a refused upload (and nothing else), so support can see what happened."""
    with session_factory.begin() as session:
        session.add(
            AuditEntry(
                entity_type="share_pack_upload",
                entity_id=hashlib.sha256(content).hexdigest(),
                action=AuditAction.REJECTED,
                performed_by=submitted_by,
                new_values={
                    "original_filename": filename,
                    "size_bytes": len(content),
                    "errors": errors[:50],
                    "error_count": len(errors),
                },
                request_id=request_id,
            )
        )
    log.info("share_pack.rejected", original_filename=filename, error_count=len(errors))
