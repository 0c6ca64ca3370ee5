"""Checking an upload before anything is stored: parse, validate, ask the directory, pre-flight.

A refused upload leaves one audit row (and nothing else), so support can see what happened. Storing and
queueing an accepted one is `shared.use_cases.transitions`'s job.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from shared.access.admission import Admission, admit_to, refuse_unless_admitted
from shared.access.directory import UploadTarget, resolve_upload_target
from shared.access.ownership import ProjectScope, target_scope
from shared.access.policy import Access
from shared.models.history import audit
from shared.platform.errors import InvalidInput
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.status import AuditAction
from shared.preflight import PreflightReport
from shared.share_pack_file import FormatLimits, Issue, ParsedSharePack, SharePackSpec, parse_share_pack
from shared.share_pack_file.issues import Findings, echo

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


@dataclass(frozen=True)
class Upload:
    """A file as it arrived: its bytes, the name the client gave it, and who sent it where."""

    content: bytes
    filename: str
    workspace_url: str
    submitted_by: str
    request_id: str | None = None

    @property
    def stored_name(self) -> str:
        """The name comes from the client: stored and shown, so bounded and printable (PostgreSQL refuses NUL)."""
        return echo(self.filename)


@dataclass(frozen=True)
class UploadRules:
    """This deployment's checks of an upload, in the order they run."""

    max_bytes: int
    max_token_expiry_days: int = 365
    limits: FormatLimits | None = None
    #: The Azure AD checks (`shared.graph.validator`): errors and warnings about who the pack names. They run
    #: outside any storing transaction, so their Graph calls never hold one. They answer the tenant and
    #: project the pack names for the upload's workspace, so the access rules do not read them again.
    check_directory: Callable[[Session, SharePackSpec, Findings, str], UploadTarget | None] | None = None
    #: The pre-flight of a new pack against its workspace (`shared.preflight`), planned within the scope of
    #: the pack's project; None, or None for a workspace: not checked (no credentials).
    preflight_for: Callable[[str], Callable[[SharePackSpec, ProjectScope], PreflightReport] | None] | None = None


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


class FileVerdict(NamedTuple):
    """An upload's file checked by every rule but the workspace's (`file_findings`)."""

    parsed: ParsedSharePack
    errors: list[Issue]
    #: The tenant and project the pack names, when the directory check read them (None: it did not, or the
    #: business line is not registered).
    target: UploadTarget | None = None


def validate_upload(session_factory: sessionmaker[Session], reading: Session, upload: Upload, rules: UploadRules
                    ) -> FileVerdict:
    """Parse and validate an upload for its workspace, reading the tables in ``reading``; a refused one leaves an
    audit row (its own transaction) and raises.

    Raises:
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all.
        InvalidSharePack: the file breaks the rules.
    """
    try:
        verdict = file_findings(reading, upload, rules)
    except InvalidInput as exc:
        record_rejection(session_factory, upload, [str(exc)], reading=reading)
        raise
    if verdict.errors:
        record_rejection(session_factory, upload, [e.to_dict() for e in verdict.errors], reading=reading)
        raise InvalidSharePack(verdict.errors, verdict.parsed.warnings)
    return verdict


def file_findings(reading: Session, upload: Upload, rules: UploadRules) -> FileVerdict:
    """The errors of an upload's file by every rule but the workspace's: the format, the workspace it names,
    the token lifetime and Azure AD (read in ``reading``, a session that writes nothing). Its warnings join
    ``parsed``. The upload and the dry run both ask this, so they give the same verdict on the same file.
    Records nothing.

    Raises:
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all.
    """
    parsed = parse_share_pack(upload.content, filename=upload.filename, max_bytes=rules.max_bytes,
                              limits=rules.limits)
    errors = list(parsed.errors)
    errors.extend(_workspace_mismatch(parsed, upload.workspace_url))
    errors.extend(_token_expiry_over_limit(parsed, rules.max_token_expiry_days))
    if errors or parsed.spec is None:
        return FileVerdict(parsed, errors)
    if rules.check_directory is not None:
        findings = Findings()
        target = rules.check_directory(reading, parsed.spec, findings, upload.workspace_url)
        parsed.warnings = [*parsed.warnings, *findings.warnings]
        return FileVerdict(parsed, list(findings.errors), target)
    return FileVerdict(parsed, [])


@dataclass(frozen=True)
class Admitted:
    """What the access rules decided about an upload before its workspace is read, and the scope of the
    project it names (`admit_before_reading`)."""

    scope: ProjectScope
    access: Access | None
    target: UploadTarget | None
    admission: Admission | None

    def admission_in(self, session: Session, spec: SharePackSpec, workspace_url: str) -> Admission | None:
        """The verdict for the upload's storing transaction, taken as read: in READ COMMITTED, applying the
        rules again there would see the same tables a few milliseconds later and guard nothing more. A project
        the upload names for the first time is the exception: it is created in ``session``, with the pack that
        records it."""
        if self.access is None:
            return None
        if self.admission is not None and self.target is not None and self.target.project is not None:
            return self.admission
        return admit_to(session, self.access, spec, workspace_url, self.target)


def admit_before_reading(
    reading: Session,
    access_of: Callable[[Session], Access | None],
    spec: SharePackSpec,
    workspace_url: str,
    target: UploadTarget | None,
) -> Admitted:
    """Apply the upload's access rules (``access_of``: the caller's rights; None: a trusted tool, no rules
    apply) and find the scope of the pack's project, in ``reading`` (the directory check's session: it writes
    nothing), before the workspace is read: what a workspace holds is only for callers who may upload to it.
    ``target``: the tenant and project as the directory check read them (None: read them here). The upload and
    its dry run both ask this.

    Raises:
        Forbidden, InvalidInput: the access rules refuse the upload.
    """
    metadata = spec.metadata
    if target is None:
        target = resolve_upload_target(reading, metadata.business_line, metadata.project_name, workspace_url)
    access = access_of(reading)
    admission = None
    if access is not None and target is not None and target.project is not None:
        admission = admit_to(reading, access, spec, workspace_url, target)
    elif access is not None:  # a project named for the first time is created with its pack (`admission_in`)
        refuse_unless_admitted(access, spec, workspace_url, target)
    scope = target_scope(reading, spec, workspace_url, target)
    return Admitted(scope, access, target, admission)


def preflight_upload(
    session_factory: sessionmaker[Session],
    upload: Upload,
    check: Callable[[SharePackSpec], PreflightReport] | None,
    parsed: ParsedSharePack,
) -> None:
    """Run ``check`` (the pre-flight against the workspace; None: none) on a valid new pack: its warnings
    join ``parsed``'s, its errors refuse the upload.

    Raises:
        InvalidSharePack: the workspace contradicts the pack (an audit row records it).
    """
    if check is None or parsed.spec is None:
        return
    report = check(parsed.spec)
    parsed.warnings.extend(report.warnings)
    if report.errors:
        record_rejection(session_factory, upload, [e.to_dict() for e in report.errors])
        raise InvalidSharePack(report.errors, parsed.warnings)


def _workspace_mismatch(parsed: ParsedSharePack, workspace_url: str) -> list[Issue]:
    declared = parsed.spec.metadata.workspace_url if parsed.spec else None
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
    recipients = parsed.spec.recipients if parsed.spec else ()
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


def record_rejection(session_factory: sessionmaker[Session], upload: Upload, errors: list, *,
                     reading: Session | None = None) -> None:
    """Keep an audit record of a refused upload (and nothing else), so support can see what happened.

    The record is a transaction of its own: ``reading``, a read session the refusal was found in, ends its
    transaction first, so the record never sits inside it (or waits on a second connection beside it)."""
    if reading is not None:
        reading.rollback()
    with session_factory.begin() as session:
        audit(
            session,
            ("share_pack_upload", hashlib.sha256(upload.content).hexdigest()),
            AuditAction.REJECTED,
            by=upload.submitted_by,
            new={
                "original_filename": upload.stored_name,
                "size_bytes": len(upload.content),
                "errors": errors[:50],
                "error_count": len(errors),
            },
            request_id=upload.request_id,
        )
    log.info("share_pack.rejected", original_filename=upload.stored_name, error_count=len(errors))
