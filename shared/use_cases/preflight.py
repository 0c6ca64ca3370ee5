"""The dry run: parse an upload and run the pre-flight against its workspace; nothing is stored or queued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.access.ownership import ProjectScope
from shared.errors import ConfigurationError, ServiceUnavailable
from shared.logging import get_logger
from shared.preflight import CatalogReader, PreflightReport, preflight
from shared.provisioning.errors import ProvisioningError
from shared.provisioning.plan import make_plan
from shared.share_pack_file import FormatLimits, Issue, SharePackSpec, parse_share_pack
from shared.use_cases.submit import _workspace_mismatch

log = get_logger(__name__)


@dataclass(frozen=True)
class DryRun:
    """What a dry run found; ``plan`` is None when the file itself has errors (nothing was read)."""

    errors: list[Issue]
    warnings: list[Issue]
    plan: dict[str, Any] | None


def dry_run(
    *,
    content: bytes,
    filename: str,
    workspace_url: str,
    max_bytes: int,
    reader_for: Callable[[str], CatalogReader] | None,
    limits: FormatLimits | None = None,
    admit: Callable[[SharePackSpec], object] | None = None,
    scope: Callable[[SharePackSpec], ProjectScope] | None = None,
) -> DryRun:
    """Validate an upload as the upload route would, then check it against the workspace, read-only.

    `admit` applies the upload's access rules before the workspace is read: what a workspace holds (tables,
    other packs' objects in a plan's conflicts) is only for callers who may upload to it. `scope` limits the
    plan to what the pack's project owns (`shared.access.ownership`): other projects' objects are never described.

    Raises:
        Forbidden, InvalidInput: `admit` refused the caller.
        PayloadTooLarge, UnsupportedMediaType: the file cannot be read at all.
        ServiceUnavailable: the workspace cannot be read right now.
    """
    parsed = parse_share_pack(content, filename=filename, max_bytes=max_bytes, limits=limits)
    errors = [*parsed.errors, *_workspace_mismatch(parsed, workspace_url)]
    if errors or parsed.share_pack is None:
        return DryRun(errors=errors, warnings=parsed.warnings, plan=None)
    if admit is not None:
        admit(parsed.share_pack)
    if reader_for is None:
        skipped = Issue(path="", message="Pre-flight check skipped: no Databricks credentials are configured")
        return DryRun(errors=[], warnings=[*parsed.warnings, skipped], plan=None)
    try:
        planner = scope(parsed.share_pack).plan if scope is not None else make_plan
        report: PreflightReport = preflight(parsed.share_pack, reader_for(workspace_url), planner=planner)
    except (ProvisioningError, ConfigurationError) as exc:
        log.warning("preflight.unreadable", error=exc.message)
        raise ServiceUnavailable(f"The workspace {workspace_url} cannot be read right now: {exc.message}") from exc
    return DryRun(
        errors=report.errors,
        warnings=[*parsed.warnings, *report.warnings],
        plan=report.plan.to_dict() if report.plan is not None else None,
    )
