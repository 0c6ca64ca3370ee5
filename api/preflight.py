"""The upload route's pre-flight, bound to this process's workspace readers and budget."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from api.context import Services
from shared.preflight import PreflightReport, preflight_within
from shared.share_pack_file import SharePackSpec


def upload_preflight(svc: Services, url: str) -> Callable[[SharePackSpec], PreflightReport] | None:
    """Return the check an upload to ``url`` runs, bounded by ``preflight_budget_seconds``; None (no check)
    when the process has no Databricks credentials."""
    reader_for = svc.reader_for
    if reader_for is None:
        return None
    return partial(
        preflight_within,
        reader_for=lambda: reader_for(url),
        budget_seconds=svc.settings.preflight_budget_seconds,
    )
