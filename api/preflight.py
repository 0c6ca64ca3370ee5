"""The upload route's pre-flight, bound to this process's workspace readers and budget."""

from __future__ import annotations

from collections.abc import Callable

from api.context import Services
from shared.access.ownership import ProjectScope
from shared.preflight import CachedReaders, PreflightReport, preflight_within
from shared.share_pack_file import SharePackSpec


def upload_preflight(svc: Services, url: str) -> Callable[[SharePackSpec, ProjectScope], PreflightReport] | None:
    """Return the check an upload to ``url`` runs, bounded by ``preflight_budget_seconds``; None (no check)
    when the process has no Databricks credentials. The plan shows only what the pack's project owns
    (``scope``); another project's object is "a name taken"."""
    reader_for = svc.reader_for
    if reader_for is None:
        return None
    # A burst of uploads reads the workspace once (shared.preflight.cache); refusals are still read live.
    reader = reader_for.cached if isinstance(reader_for, CachedReaders) else reader_for

    def check(spec: SharePackSpec, scope: ProjectScope) -> PreflightReport:
        return preflight_within(spec, reader_for=lambda: reader(url),
                                budget_seconds=svc.settings.preflight_budget_seconds, planner=scope.plan)

    return check
