"""Registering tenants for tests that upload: without a registered tenant every upload is refused."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Project, Tenant, TenantRegion
from shared.models.history import History

EXAMPLE_BUSINESS_LINE = "Finance"  # the business line of examples/sample_sharepack.*


def register_tenant(
    sessions: sessionmaker[Session],
    workspaces: Mapping[str, str],
    *,
    business_line: str = EXAMPLE_BUSINESS_LINE,
    configurator_groups: Sequence[str] = (),
    approval_required: str = "never",
) -> uuid.UUID:
    """Write a tenant and its workspaces directly (no audit row: a committed one could never be removed)."""
    with sessions.begin() as session:
        tenant = History(session, Tenant).create(
            created_by="tests",
            business_line_name=business_line,
            configurator_ad_group=list(configurator_groups),
            approval_required=approval_required,
        )
        for region, url in workspaces.items():
            History(session, TenantRegion).create(
                created_by="tests", tenant_id=tenant.tenant_id, region=region, workspace_url=url
            )
        return tenant.tenant_id


def remove_tenant(engine: Engine, tenant_id: uuid.UUID) -> None:
    """Undo a committed `register_tenant` (and the projects uploads created for it)."""
    with engine.begin() as conn:
        for model in (Project, TenantRegion, Tenant):
            conn.execute(delete(model).where(model.tenant_id == tenant_id))
