"""Administration: local groups, tenants with their workspaces and approval rule, projects, and imports.

Every change is a new history version (shared.history) plus an audit row naming who made it, in one
transaction owned by the use case.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.access.directory import find_project, find_tenant, tenant_workspaces
from shared.access.membership import normalise_members
from shared.access.policy import Access
from shared.errors import Conflict, InvalidInput, NotFound
from shared.history import History
from shared.models import AdGroup, AuditEntry, Project, Recipient, Share, Tenant, TenantRegion
from shared.settings import AZURE_WORKSPACE_URL, Settings, normalize_workspace_url
from shared.status import ApprovalRule, AuditAction

REGIONS = ("AM", "EMEA", "APAC")
LOCAL_SOURCE = "local"


def _audit(
    session: Session,
    *,
    entity_type: str,
    entity_id: object,
    action: AuditAction,
    by: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    request_id: str | None,
) -> None:
    session.add(
        AuditEntry(
            entity_type=entity_type,
            entity_id=str(entity_id),
            action=action,
            performed_by=by,
            old_values=dict(old) if old is not None else None,
            new_values=dict(new),
            request_id=request_id,
        )
    )


# -- groups -------------------------------------------------------------------------------------------------


def put_local_group(
    session_factory: sessionmaker[Session],
    access: Access,
    group_name: str,
    members: Sequence[str],
    *,
    request_id: str | None = None,
) -> AdGroup:
    """Create or replace the members of a local group; synced directory groups are not editable here."""
    access.require_admin("edit groups")
    name = group_name.strip()
    if not name:
        raise InvalidInput("A group needs a name")
    values = {"members": normalise_members(list(members)), "source": LOCAL_SOURCE}
    with session_factory.begin() as session:
        existing = History(session, AdGroup).find_current(group_name=name)
        if existing and existing[0].source != LOCAL_SOURCE:
            raise Conflict(
                f"Group {name!r} is synced from {existing[0].source}; only local groups can be edited here"
            )
        old = {"members": existing[0].members} if existing else None
        row = History(session, AdGroup).upsert(
            {"group_name": name}, values, changed_by=access.principal.identity, change_reason="members set"
        )
        _audit(
            session,
            entity_type="ad_group",
            entity_id=row.group_id,
            action=AuditAction.UPDATED if existing else AuditAction.CREATED,
            by=access.principal.identity,
            old=old,
            new={"group_name": name, **values},
            request_id=request_id,
        )
    return row


# -- tenants ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantView:
    """A tenant as administrators read it."""

    business_line: str
    tenant_id: uuid.UUID
    workspaces: dict[str, str]
    configurator_groups: list[str]
    approval_required: str
    version: int
    allowed_email_domains: list[str] = field(default_factory=list)


def _tenant_view(session: Session, tenant: Tenant) -> TenantView:
    return TenantView(
        business_line=tenant.business_line_name,
        tenant_id=tenant.tenant_id,
        workspaces=tenant_workspaces(session, tenant.tenant_id),
        configurator_groups=list(tenant.configurator_ad_group),
        approval_required=tenant.approval_required,
        version=tenant.version,
        allowed_email_domains=[str(domain) for domain in tenant.allowed_email_domains or ()],
    )


def _workspace_urls(settings: Settings, workspaces: Mapping[str, str]) -> dict[str, str]:
    result = {}
    for region, raw in workspaces.items():
        if region not in REGIONS:
            raise InvalidInput(f"Unknown region {region!r}: expected one of {', '.join(REGIONS)}")
        url = normalize_workspace_url(raw)
        if not (AZURE_WORKSPACE_URL.match(url) or url in settings.dev_workspace_urls):
            raise InvalidInput(
                f"Workspace {raw!r} for region {region} is not an Azure Databricks workspace URL "
                "(https://adb-<id>.<n>.azuredatabricks.net) nor a configured development workspace"
            )
        result[region] = url
    return result


def put_tenant(
    session_factory: sessionmaker[Session],
    access: Access,
    settings: Settings,
    business_line: str,
    *,
    workspaces: Mapping[str, str],
    configurator_groups: Sequence[str],
    approval_required: str,
    allowed_email_domains: Sequence[str] | None = None,
    request_id: str | None = None,
) -> TenantView:
    """Register or change a tenant: its workspace per region, configurator groups, approval rule and the
    e-mail domains its D2O recipients and pipeline notifications may use (None: unchanged; empty: any)."""
    access.require_admin("register or change tenants")
    name = business_line.strip()
    if not name:
        raise InvalidInput("A tenant needs a business line name")
    try:
        rule = ApprovalRule(approval_required)
    except ValueError:
        raise InvalidInput("ApprovalRequired must be one of: always, external, never") from None
    urls = _workspace_urls(settings, workspaces)
    by = access.principal.identity
    with session_factory.begin() as session:
        existing = find_tenant(session, name)
        old = _tenant_view(session, existing).__dict__ if existing else None
        values = {"configurator_ad_group": normalise_members(list(configurator_groups)), "approval_required": rule}
        if allowed_email_domains is not None:
            values["allowed_email_domains"] = sorted({d.strip().lower().lstrip("@") for d in allowed_email_domains})
        if existing is None:
            tenant = History(session, Tenant).create(
                created_by=by, change_reason="registered", business_line_name=name, **values
            )
        else:
            tenant = History(session, Tenant).upsert(
                {"tenant_id": existing.tenant_id}, values, changed_by=by, change_reason="changed"
            )
        regions = History(session, TenantRegion)
        for region, url in urls.items():
            regions.upsert(
                {"tenant_id": tenant.tenant_id, "region": region},
                {"workspace_url": url},
                changed_by=by,
                change_reason="workspace set",
            )
        for region in set(tenant_workspaces(session, tenant.tenant_id)) - set(urls):
            regions.delete_current(
                {"tenant_id": tenant.tenant_id, "region": region}, changed_by=by, change_reason="workspace removed"
            )
        view = _tenant_view(session, tenant)
        _audit(
            session,
            entity_type="tenant",
            entity_id=tenant.tenant_id,
            action=AuditAction.UPDATED if existing else AuditAction.CREATED,
            by=by,
            old=_jsonable(old),
            new=_jsonable(view.__dict__),
            request_id=request_id,
        )
    return view


def list_tenants(session: Session, access: Access) -> list[TenantView]:
    """Every registered tenant, by name."""
    access.require_admin("list tenants")
    tenants = History(session, Tenant).find_current()
    return sorted((_tenant_view(session, t) for t in tenants), key=lambda v: v.business_line.lower())


# -- projects -----------------------------------------------------------------------------------------------


def put_project(
    session_factory: sessionmaker[Session],
    access: Access,
    business_line: str,
    project_name: str,
    *,
    approver_groups: Sequence[str],
    configurator_groups: Sequence[str],
    request_id: str | None = None,
) -> Project:
    """Create or change a project of a registered tenant (administrators and the tenant's configurators)."""
    name = project_name.strip()
    if not name:
        raise InvalidInput("A project needs a name")
    by = access.principal.identity
    with session_factory.begin() as session:
        tenant = find_tenant(session, business_line)
        if tenant is None:
            raise NotFound(f"Business line {business_line!r} is not registered")
        access.require_tenant_configurator(tenant, "create or change its projects")
        values = {
            "approver": normalise_members(list(approver_groups)),
            "configurator": normalise_members(list(configurator_groups)),
        }
        existing = find_project(session, tenant.tenant_id, name)
        old = {"approver": existing.approver, "configurator": existing.configurator} if existing else None
        if existing is None:
            project = History(session, Project).create(
                created_by=by, change_reason="created", project_name=name, tenant_id=tenant.tenant_id, **values
            )
        else:
            project = History(session, Project).upsert(
                {"project_id": existing.project_id}, values, changed_by=by, change_reason="changed"
            )
        _audit(
            session,
            entity_type="project",
            entity_id=project.project_id,
            action=AuditAction.UPDATED if existing else AuditAction.CREATED,
            by=by,
            old=old,
            new={"business_line": tenant.business_line_name, "project_name": name, **values},
            request_id=request_id,
        )
    return project


# -- imports ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientImport:
    name: str
    type: str  # "D2O" or "D2D"


@dataclass(frozen=True)
class ImportResult:
    project_id: uuid.UUID
    recipients: list[str]
    shares: list[str]


def import_objects(
    session_factory: sessionmaker[Session],
    access: Access,
    *,
    business_line: str,
    project_name: str,
    workspace_url: str,
    recipients: Sequence[RecipientImport],
    shares: Sequence[str],
    request_id: str | None = None,
) -> ImportResult:
    """Put recipients and shares made outside this service under a project's ownership, once and on record.

    An object already owned by a project is a conflict: ownership moves only by deleting and recreating.
    """
    access.require_admin("import objects into a project")
    by = access.principal.identity
    with session_factory.begin() as session:
        tenant = find_tenant(session, business_line)
        if tenant is None:
            raise NotFound(f"Business line {business_line!r} is not registered")
        if workspace_url not in tenant_workspaces(session, tenant.tenant_id).values():
            raise InvalidInput(f"Workspace {workspace_url} is not one of {tenant.business_line_name}'s workspaces")
        project = find_project(session, tenant.tenant_id, project_name)
        if project is None:
            raise NotFound(f"Project {project_name!r} of {tenant.business_line_name} is not registered")
        imported_recipients = [
            _claim(session, Recipient, "recipient_name", r.name, workspace_url, project.project_id, by,
                   {"recipient_type": r.type})
            for r in recipients
        ]
        imported_shares = [
            _claim(session, Share, "share_name", s, workspace_url, project.project_id, by, {}) for s in shares
        ]
        _audit(
            session,
            entity_type="project",
            entity_id=project.project_id,
            action=AuditAction.IMPORTED,
            by=by,
            old=None,
            new={"workspace_url": workspace_url, "recipients": imported_recipients, "shares": imported_shares},
            request_id=request_id,
        )
    return ImportResult(project_id=project.project_id, recipients=imported_recipients, shares=imported_shares)


def _claim(
    session: Session,
    model: type[Recipient] | type[Share],
    name_column: str,
    raw_name: str,
    workspace_url: str,
    project_id: uuid.UUID,
    by: str,
    create_values: dict[str, Any],
) -> str:
    name = raw_name.strip().lower()  # Unity Catalog stores names lowercase
    if not name:
        raise InvalidInput(f"Every imported {model.__tablename__[:-1]} needs a name")
    history = History(session, model)
    existing = history.find_current(workspace_url=workspace_url, **{name_column: name})
    if existing and existing[0].project_id is not None:
        raise Conflict(f"{model.__tablename__[:-1].capitalize()} {name!r} is already owned by a project")
    if existing:
        key = getattr(existing[0], model.__business_key__)
        history.change(key, changed_by=by, change_reason="imported", project_id=project_id)
    else:
        history.create(
            created_by=by,
            change_reason="imported",
            workspace_url=workspace_url,
            project_id=project_id,
            request_source="import",
            **{name_column: name},
            **create_values,
        )
    return name


def _jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}
