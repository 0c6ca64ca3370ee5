"""Which Databricks workspaces this deployment may act on.

The worker sends credentials to the workspace a share pack names, so a caller must never be able to point
it at a host of their choosing: only URLs configured in settings or registered as a tenant region count.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import TenantRegion
from shared.platform.errors import InvalidInput
from shared.platform.settings import AZURE_WORKSPACE_URL, Settings, normalize_workspace_url


class InvalidWorkspaceUrl(InvalidInput):
    """The X-Workspace-URL header is missing, malformed or names a workspace we do not know."""


def resolve_workspace_url(session: Session, settings: Settings, raw: str | None) -> str:
    """Return the normalised URL if this deployment knows the workspace; raise InvalidWorkspaceUrl if not."""
    if not raw or not raw.strip():
        raise InvalidWorkspaceUrl("Invalid workspace URL: the X-Workspace-URL header is required")
    url = normalize_workspace_url(raw)
    if url in settings.dev_workspace_urls:
        return url
    if AZURE_WORKSPACE_URL.match(url):
        if url in settings.allowed_workspace_urls:
            return url
        registered = session.scalar(
            select(TenantRegion.tenant_region_id)
            .where(TenantRegion.is_current, ~TenantRegion.is_deleted, TenantRegion.workspace_url == url)
            .limit(1)
        )
        if registered is not None:
            return url
    raise InvalidWorkspaceUrl(
        "Invalid workspace URL: it must be a registered Azure Databricks workspace "
        "(https://adb-<id>.<n>.azuredatabricks.net)"
    )
