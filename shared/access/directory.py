"""Reading the registered tenants, their workspaces and projects (current rows only)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Project, Tenant, TenantRegion


def find_tenant(session: Session, business_line: str) -> Tenant | None:
    """The registered tenant of a business line (names compare case-insensitively)."""
    return session.scalar(
        select(Tenant).where(
            Tenant.is_current,
            ~Tenant.is_deleted,
            func.lower(Tenant.business_line_name) == business_line.strip().lower(),
        )
    )


def find_project(session: Session, tenant_id: uuid.UUID, project_name: str) -> Project | None:
    return session.scalar(
        select(Project).where(
            Project.is_current,
            ~Project.is_deleted,
            Project.tenant_id == tenant_id,
            func.lower(Project.project_name) == project_name.strip().lower(),
        )
    )


def tenant_workspaces(session: Session, tenant_id: uuid.UUID) -> dict[str, str]:
    """The tenant's workspace URL per region."""
    rows = session.execute(
        select(TenantRegion.region, TenantRegion.workspace_url).where(
            TenantRegion.is_current, ~TenantRegion.is_deleted, TenantRegion.tenant_id == tenant_id
        )
    ).all()
    return {region: url for region, url in rows}
