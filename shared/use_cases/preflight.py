"""The dry run: parse an upload and run the pre-flight against its workspace; nothing is stored or queued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.access.policy import Access
from shared.platform.db import read_only_session
from shared.platform.errors import ConfigurationError, ServiceUnavailable
from shared.platform.logging import get_logger
from shared.preflight import CatalogReader, PreflightReport, preflight
from shared.provisioning.errors import ProvisioningError
from shared.share_pack_file import Issue
from shared.use_cases.submit import Upload, UploadRules, admit_before_reading, file_findings

log = get_logger(__name__)


@dataclass(frozen=True)
class DryRun:
    """What a dry run found; ``plan`` is None when the file itself has errors (nothing was read)."""

    errors: list[Issue]
    warnings: list[Issue]
    plan: dict[str, Any] | None


@dataclass(frozen=True)
class DryRunChecks:
    """What a dry run checks besides the upload's own rules: who asks, and how the workspace is read."""

    reader_for: Callable[[str], CatalogReader] | None
    #: The caller's rights, read in a session (`Asker.access`); None: a trusted tool, no access rule applies.
    access_of: Callable[[Session], Access | None]


def dry_run(
    session_factory: sessionmaker[Session], upload: Upload, rules: UploadRules, checks: DryRunChecks
) -> DryRun:
    """Validate an upload by the same rules as the upload itself (`file_findings`: format, workspace, token
    lifetime, Azure AD), then check it against the workspace, read-only.

    The upload's access rules apply before the workspace is read, as for the upload (`admit_before_reading`):
    what a workspace holds (tables, other packs' objects in a plan's conflicts) is only for callers who may
    upload to it. The plan is limited to what the pack's project owns (`shared.access.ownership`): other
    projects' objects are never described.

    Raises:
        Forbidden, InvalidInput: the access rules refused the caller.
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all.
        ServiceUnavailable: the workspace cannot be read right now.
    """
    workspace_url, reader_for = upload.workspace_url, checks.reader_for
    with read_only_session(session_factory) as reading:
        parsed, errors, target = file_findings(reading, upload, rules)
        if errors or parsed.spec is None:
            return DryRun(errors=errors, warnings=parsed.warnings, plan=None)
        admitted = admit_before_reading(reading, checks.access_of, parsed.spec, workspace_url, target)
    if reader_for is None:
        skipped = Issue(path="", message="Pre-flight check skipped: no Databricks credentials are configured")
        return DryRun(errors=[], warnings=[*parsed.warnings, skipped], plan=None)
    try:
        report: PreflightReport = preflight(parsed.spec, reader_for(workspace_url), planner=admitted.scope.plan)
    except (ProvisioningError, ConfigurationError) as exc:
        log.warning("preflight.unreadable", error=exc.message)
        raise ServiceUnavailable(f"The workspace {workspace_url} cannot be read right now: {exc.message}") from exc
    return DryRun(
        errors=report.errors,
        warnings=[*parsed.warnings, *report.warnings],
        plan=report.plan.to_dict() if report.plan is not None else None,
    )
