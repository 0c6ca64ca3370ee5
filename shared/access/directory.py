"""Reading the registered tenants, their workspaces and projects (current rows only)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, func, select
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


@dataclass(frozen=True)
class UploadTarget:
    """What an upload names, resolved: the tenant, whether the workspace is one of its own, the project."""

    tenant: Tenant
    workspace_is_tenants: bool
    project: Project | None


def resolve_upload_target(
    session: Session, business_line: str, project_name: str, workspace_url: str
) -> UploadTarget | None:
    """Tenant, workspace check and project in one round trip (the upload path is the hot path); None if the
    business line is not registered."""
    row = session.execute(_upload_target_statement(), {
        "business_line": business_line.strip().lower(),
        "project_name": project_name.strip().lower(),
        "workspace_url": workspace_url,
    }).first()
    if row is None:
        return None
    tenant, region_id, found = row
    return UploadTarget(tenant=tenant, workspace_is_tenants=region_id is not None, project=found)


@functools.cache
def _upload_target_statement() -> Select[tuple[Tenant, uuid.UUID, Project]]:
    """Built once with bound parameters: building the statement and its cache key on every upload cost the API
    more CPU than PostgreSQL spent running it
    (https://docs.sqlalchemy.org/en/20/core/connections.html#sql-compilation-caching)."""
    region = and_(
        TenantRegion.tenant_id == Tenant.tenant_id,
        TenantRegion.is_current,
        ~TenantRegion.is_deleted,
        TenantRegion.workspace_url == bindparam("workspace_url"),
    )
    project = and_(
        Project.tenant_id == Tenant.tenant_id,
        Project.is_current,
        ~Project.is_deleted,
        func.lower(Project.project_name) == bindparam("project_name"),
    )
    return (
        select(Tenant, TenantRegion.tenant_region_id, Project)
        .outerjoin(TenantRegion, region)
        .outerjoin(Project, project)
        .where(Tenant.is_current, ~Tenant.is_deleted,
               func.lower(Tenant.business_line_name) == bindparam("business_line"))
        .limit(1)
    )
