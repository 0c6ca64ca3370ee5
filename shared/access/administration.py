"""Administration: local groups, tenants with their workspaces and approval rule, projects, and imports.

Every change is a new history version (shared.models.history) plus an audit row naming who made it, in one
transaction owned by the use case.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.access.data_scope import normalise_scope
from shared.access.directory import find_project, find_tenant, tenant_workspaces
from shared.access.membership import normalise_members
from shared.access.policy import Access
from shared.models import AdGroup, Project, Recipient, Share, Tenant, TenantRegion
from shared.models.history import History, audit
from shared.platform.errors import Conflict, InvalidInput, NotFound
from shared.platform.settings import AZURE_WORKSPACE_URL, Settings, normalize_workspace_url
from shared.platform.status import ApprovalRule, AuditAction

REGIONS = ("AM", "EMEA", "APAC")
LOCAL_SOURCE = "local"
#: A directory (Entra) object id: how tenants and projects name directory groups.
OBJECT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def group_references(session: Session, groups: Sequence[str], *, field: str) -> list[str]:
    """Groups as a tenant or project stores them: an Entra group by its object id, a local group by its name.

    Entra display names are neither unique nor protected, so one never names a group here: an entry that is
    not an object id must be a local group's name (`PUT /workflow/groups/{name}`).
    """
    refs = normalise_members(list(groups))
    names = [r for r in refs if not OBJECT_ID.match(r)]
    if names:
        local = {n.lower() for n in session.scalars(select(AdGroup.group_name).where(
            AdGroup.is_current, ~AdGroup.is_deleted, AdGroup.ad_object_id.is_(None),
            func.lower(AdGroup.group_name).in_(names)))}
        unknown = [n for n in names if n not in local]
        if unknown:
            raise InvalidInput(
                f"{field}: {unknown[0][:80]!r} is neither an Entra group's object id nor a local group; "
                "name directory groups by object id (display names are not unique)"
            )
    return refs


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
        audit(
            session,
            ("ad_group", row.group_id),
            AuditAction.UPDATED if existing else AuditAction.CREATED,
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
    shareable_scope: list[str]
    own_metastores: list[str]
    #: For showing only: the display name of each configurator group named by object id that the sync knows.
    group_names: dict[str, str]
    allowed_email_domains: list[str] = field(default_factory=list)


def _metastores(ids: Sequence[str]) -> list[str]:
    """Global metastore ids as stored: lowercased, unique, sorted (``<cloud>:<region>:<uuid>``)."""
    result = sorted({str(m).strip().lower() for m in ids if str(m).strip()})
    bad = [m for m in result if m.count(":") != 2 or any(c.isspace() for c in m) or len(m) > 255]
    if bad:
        raise InvalidInput(f"OwnMetastores: {bad[0][:80]!r} is not a global metastore id (<cloud>:<region>:<uuid>)")
    return result


def _tenant_view(session: Session, tenant: Tenant) -> TenantView:
    return TenantView(
        business_line=tenant.business_line_name,
        tenant_id=tenant.tenant_id,
        workspaces=tenant_workspaces(session, tenant.tenant_id),
        configurator_groups=list(tenant.configurator_ad_group),
        approval_required=tenant.approval_required,
        version=tenant.version,
        shareable_scope=list(tenant.shareable_scope or ()),
        own_metastores=list(tenant.own_metastores or ()),
        group_names=group_display_names(session, tenant.configurator_ad_group),
        allowed_email_domains=[str(domain) for domain in tenant.allowed_email_domains or ()],
    )


def group_display_names(session: Session, refs: Sequence[object]) -> dict[str, str]:
    """Object id → display name of the directory groups ``refs`` name (for showing; never for deciding)."""
    ids = [str(r) for r in refs if OBJECT_ID.match(str(r))]
    if not ids:
        return {}
    return dict(session.execute(select(AdGroup.ad_object_id, AdGroup.group_name).where(
        AdGroup.is_current, ~AdGroup.is_deleted, func.lower(AdGroup.ad_object_id).in_(ids))).all())


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


@dataclass(frozen=True)
class TenantSpec:
    """What an administrator asks a tenant to be: its workspace per region, configurator groups and approval
    rule, the data it may share, its own metastores, and the e-mail domains its D2O recipients and pipeline
    notifications may use (None: kept as they are; a new tenant starts with none; empty domains: any)."""

    business_line: str
    workspaces: Mapping[str, str]
    configurator_groups: Sequence[str]
    approval_required: str
    shareable_scope: Sequence[str] | None = None
    own_metastores: Sequence[str] | None = None
    allowed_email_domains: Sequence[str] | None = None


def put_tenant(
    session_factory: sessionmaker[Session],
    access: Access,
    settings: Settings,
    spec: TenantSpec,
    *,
    request_id: str | None = None,
) -> TenantView:
    """Register or change a tenant as `spec` describes it (administrators only)."""
    access.require_admin("register or change tenants")
    name = spec.business_line.strip()
    if not name:
        raise InvalidInput("A tenant needs a business line name")
    try:
        rule = ApprovalRule(spec.approval_required)
    except ValueError:
        raise InvalidInput("ApprovalRequired must be one of: always, external, never") from None
    urls = _workspace_urls(settings, spec.workspaces)
    by = access.principal.identity
    with session_factory.begin() as session:
        existing = find_tenant(session, name)
        old = _tenant_view(session, existing).__dict__ if existing else None
        values: dict[str, Any] = {
            "configurator_ad_group": group_references(session, spec.configurator_groups, field="ConfiguratorGroups"),
            "approval_required": rule,
        }
        if spec.shareable_scope is not None:
            values["shareable_scope"] = normalise_scope(spec.shareable_scope, field="ShareableScope")
        if spec.own_metastores is not None:
            values["own_metastores"] = _metastores(spec.own_metastores)
        if spec.allowed_email_domains is not None:
            domains = spec.allowed_email_domains
            values["allowed_email_domains"] = sorted({d.strip().lower().lstrip("@") for d in domains})
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
        audit(
            session,
            ("tenant", tenant.tenant_id),
            AuditAction.UPDATED if existing else AuditAction.CREATED,
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


@dataclass(frozen=True)
class ProjectSpec:
    """What a project of a registered tenant should be: its approver and configurator groups and the data it
    may share (see `put_project` for who may set what)."""

    business_line: str
    project_name: str
    approver_groups: Sequence[str] | None
    configurator_groups: Sequence[str]
    shareable_scope: Sequence[str] | None = None


def put_project(
    session_factory: sessionmaker[Session],
    access: Access,
    spec: ProjectSpec,
    *,
    request_id: str | None = None,
) -> Project:
    """Create or change a project of a registered tenant (administrators and the tenant's configurators).

    ``shareable_scope`` narrows what the tenant may share for this project's packs (None: kept as it is).
    Only administrators set its approver groups: whoever could would approve their own work, or remove
    the approvers. ``approver_groups`` None keeps the project's (none for a new project); a configurator
    may send the current ones unchanged.

    Raises:
        NotFound: the business line is not registered.
        Forbidden: the caller configures neither the tenant nor the service, or is not an administrator and
            the approver groups differ from the project's.
    """
    name = spec.project_name.strip()
    if not name:
        raise InvalidInput("A project needs a name")
    by = access.principal.identity
    with session_factory.begin() as session:
        tenant = find_tenant(session, spec.business_line)
        if tenant is None:
            raise NotFound(f"Business line {spec.business_line!r} is not registered")
        access.require_tenant_configurator(tenant, "create or change its projects")
        existing = find_project(session, tenant.tenant_id, name)
        approvers = list(existing.approver or []) if existing else []
        if spec.approver_groups is not None:
            wanted = group_references(session, spec.approver_groups, field="ApproverGroups")
            if wanted != normalise_members(approvers):
                access.require_admin("set a project's approver groups")
                approvers = wanted
        values: dict[str, Any] = {
            "approver": approvers,
            "configurator": group_references(session, spec.configurator_groups, field="ConfiguratorGroups"),
        }
        if spec.shareable_scope is not None:
            values["shareable_scope"] = normalise_scope(spec.shareable_scope, field="ShareableScope")
        old = {"approver": existing.approver, "configurator": existing.configurator,
               "shareable_scope": existing.shareable_scope} if existing else None
        if existing is None:
            project = History(session, Project).create(
                created_by=by, change_reason="created", project_name=name, tenant_id=tenant.tenant_id, **values
            )
        else:
            project = History(session, Project).upsert(
                {"project_id": existing.project_id}, values, changed_by=by, change_reason="changed"
            )
        audit(
            session,
            ("project", project.project_id),
            AuditAction.UPDATED if existing else AuditAction.CREATED,
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


@dataclass(frozen=True)
class ObjectImport:
    """Recipients and shares of `workspace_url`, made outside this service, that a project should own."""

    business_line: str
    project_name: str
    workspace_url: str
    recipients: Sequence[RecipientImport]
    shares: Sequence[str]


def import_objects(
    session_factory: sessionmaker[Session],
    access: Access,
    objects: ObjectImport,
    *,
    request_id: str | None = None,
) -> ImportResult:
    """Put recipients and shares made outside this service under a project's ownership, once and on record.

    An object already owned by a project is a conflict: ownership moves only by deleting and recreating.
    """
    access.require_admin("import objects into a project")
    by = access.principal.identity
    workspace_url = objects.workspace_url
    with session_factory.begin() as session:
        tenant = find_tenant(session, objects.business_line)
        if tenant is None:
            raise NotFound(f"Business line {objects.business_line!r} is not registered")
        if workspace_url not in tenant_workspaces(session, tenant.tenant_id).values():
            raise InvalidInput(f"Workspace {workspace_url} is not one of {tenant.business_line_name}'s workspaces")
        project = find_project(session, tenant.tenant_id, objects.project_name)
        if project is None:
            raise NotFound(f"Project {objects.project_name!r} of {tenant.business_line_name} is not registered")
        owner = _Owner(workspace_url, project.project_id, by)
        imported_recipients = [
            _claim(session, Recipient, r.name, owner, {"recipient_type": r.type}) for r in objects.recipients
        ]
        imported_shares = [_claim(session, Share, s, owner, {}) for s in objects.shares]
        audit(
            session,
            ("project", project.project_id),
            AuditAction.IMPORTED,
            by=by,
            old=None,
            new={"workspace_url": workspace_url, "recipients": imported_recipients, "shares": imported_shares},
            request_id=request_id,
        )
    return ImportResult(project_id=project.project_id, recipients=imported_recipients, shares=imported_shares)


@dataclass(frozen=True)
class _Owner:
    """The project an import gives objects to, in which workspace, and who asked."""

    workspace_url: str
    project_id: uuid.UUID
    by: str


_NAME_COLUMN = {Recipient: "recipient_name", Share: "share_name"}


def _claim(
    session: Session,
    model: type[Recipient] | type[Share],
    raw_name: str,
    owner: _Owner,
    create_values: dict[str, Any],
) -> str:
    name = raw_name.strip().lower()  # Unity Catalog stores names lowercase
    if not name:
        raise InvalidInput(f"Every imported {model.__tablename__[:-1]} needs a name")
    name_column = _NAME_COLUMN[model]
    history = History(session, model)
    existing = history.find_current(workspace_url=owner.workspace_url, **{name_column: name})
    if existing and existing[0].project_id is not None:
        raise Conflict(f"{model.__tablename__[:-1].capitalize()} {name!r} is already owned by a project")
    if existing:
        key = getattr(existing[0], model.__business_key__)
        history.change(key, changed_by=owner.by, change_reason="imported", project_id=owner.project_id)
    else:
        history.create(
            created_by=owner.by,
            change_reason="imported",
            workspace_url=owner.workspace_url,
            project_id=owner.project_id,
            request_source="import",
            **{name_column: name},
            **create_values,
        )
    return name


def _jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}
