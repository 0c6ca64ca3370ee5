"""Which Databricks workspaces this deployment may act on.

The worker sends credentials to the workspace a share pack names, so a caller must never be able to point
it at a host of their choosing: only URLs configured in settings or registered as a tenant region count.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.models import TenantRegion
from shared.platform.db import read_only_session
from shared.platform.errors import InvalidInput
from shared.platform.settings import AZURE_WORKSPACE_URL, Settings, normalize_workspace_url


class InvalidWorkspaceUrl(InvalidInput):
    """The X-Workspace-URL header is missing, malformed or names a workspace we do not know."""


def resolve_workspace_url(session_factory: sessionmaker[Session], settings: Settings, raw: str | None) -> str:
    """Return the normalised URL if this deployment knows the workspace; raise InvalidWorkspaceUrl if not.

    Most requests name a workspace of the settings, answered without the database; a registered tenant
    region is looked up in a read-only session (see `read_only_session` for why not a plain one)."""
    if not raw or not raw.strip():
        raise InvalidWorkspaceUrl("Invalid workspace URL: the X-Workspace-URL header is required")
    url = normalize_workspace_url(raw)
    if url in settings.dev_workspace_urls:
        return url
    if AZURE_WORKSPACE_URL.match(url):
        if url in settings.allowed_workspace_urls:
            return url
        with read_only_session(session_factory) as session:
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
