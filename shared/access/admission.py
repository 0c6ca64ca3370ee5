"""Who may upload a pack, for which tenant, project and workspace, and whether it waits for an approver.

Runs inside the upload's transaction: the project an authorised configurator names for the first time is
created there, so the stored pack always records a registered tenant and project.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.access.data_scope import is_external_d2d, require_in_data_scope
from shared.access.directory import UploadTarget, resolve_upload_target
from shared.access.policy import Access
from shared.models import Project, Share, Tenant
from shared.models.history import History
from shared.platform.errors import Forbidden, InvalidInput
from shared.platform.status import ApprovalRule
from shared.share_pack_file import SharePackSpec
from shared.share_pack_file.model import RecipientType


class UnregisteredBusinessLine(InvalidInput):
    """The pack names a business line no administrator has registered."""


@dataclass(frozen=True)
class Admission:
    """What the upload is stored as: whose it is, where it belongs, and whether it waits for approval."""

    tenant_id: uuid.UUID
    project_id: uuid.UUID
    project_name: str
    requested_by: str  # always the authenticated identity
    requestor: str  # metadata.requestor: the caller, or whom an administrator uploads for
    needs_approval: bool


def admit_upload(session: Session, access: Access, spec: SharePackSpec, workspace_url: str) -> Admission:
    """Apply the upload rules (tenant, workspace, requestor, project), in order; the first rule that refuses raises.

    Raises:
        UnregisteredBusinessLine: the business line is not a registered tenant.
        Forbidden: the workspace is not the tenant's, the caller is not a configurator, the project is new
            and the caller may not create it, or `metadata.requestor` is someone else.
    """
    metadata = spec.metadata
    target = resolve_upload_target(session, metadata.business_line, metadata.project_name, workspace_url)
    return admit_to(session, access, spec, workspace_url, target)


def admit_to(session: Session, access: Access, spec: SharePackSpec, workspace_url: str,
             target: UploadTarget | None) -> Admission:
    """`admit_upload` for the ``target`` its pack resolves to (`resolve_upload_target`), when the caller
    already holds it. A project the pack names for the first time is created in ``session``.

    Raises: as `admit_upload`.
    """
    tenant, project = _admitted(access, spec, workspace_url, target)
    if project is None:
        project = History(session, Project).create(
            created_by=access.principal.identity,
            change_reason="first share pack of this project",
            project_name=spec.metadata.project_name.strip(),
            tenant_id=tenant.tenant_id,
        )
    return Admission(
        tenant_id=tenant.tenant_id,
        project_id=project.project_id,
        project_name=project.project_name,
        requested_by=access.principal.identity,
        requestor=spec.metadata.requestor,
        needs_approval=needs_approval(session, tenant, spec, workspace_url),
    )


def refuse_unless_admitted(access: Access, spec: SharePackSpec, workspace_url: str, target: UploadTarget | None
                           ) -> None:
    """The rules of `admit_to`, writing nothing: a first upload's project is left for its storing transaction.

    Raises: as `admit_upload`.
    """
    _admitted(access, spec, workspace_url, target)


def _admitted(access: Access, spec: SharePackSpec, workspace_url: str, target: UploadTarget | None
              ) -> tuple[Tenant, Project | None]:
    """The upload rules, in order (the first that refuses raises); the tenant, and the project if registered."""
    metadata = spec.metadata
    if target is None:
        raise UnregisteredBusinessLine(
            f"Business line {metadata.business_line!r} is not registered; an administrator registers it with "
            "PUT /workflow/tenants/{business_line}"
        )
    tenant, project = target.tenant, target.project
    if not target.workspace_is_tenants:
        raise Forbidden(
            f"Workspace {workspace_url} is not one of business line {tenant.business_line_name!r}'s workspaces"
        )
    access.require_uploader(tenant, project)
    require_in_data_scope(spec, tenant, project)
    principal = access.principal
    if not (access.is_self(metadata.requestor) or access.is_admin):
        raise Forbidden(
            f"metadata.requestor must be you ({principal.identity}); only administrators upload on behalf of others"
        )
    if project is None and not (access.is_admin or access.is_tenant_configurator(tenant)):
        raise Forbidden(
            f"Project {metadata.project_name.strip()!r} is not registered in {tenant.business_line_name!r}; only "
            "the business line's configurators and administrators may create projects"
        )
    return tenant, project


def needs_approval(session: Session, tenant: Tenant, spec: SharePackSpec, workspace_url: str) -> bool:
    """Whether the tenant's approval rule holds this pack for an approver."""
    rule = ApprovalRule(tenant.approval_required)
    if rule is ApprovalRule.ALWAYS:
        return True
    if rule is ApprovalRule.NEVER:
        return False
    if any(r.type is RecipientType.D2O or is_external_d2d(r, tenant) for r in spec.recipients):
        return True
    return _grants_existing_share_to_new_recipient(session, spec, workspace_url)


def _grants_existing_share_to_new_recipient(session: Session, spec: SharePackSpec, workspace_url: str) -> bool:
    wanted = {s.name: set(s.recipients) for s in spec.shares if s.recipients}
    if not wanted:
        return False
    existing = session.execute(
        select(Share.share_name, Share.recipients).where(
            Share.is_current, ~Share.is_deleted, Share.workspace_url == workspace_url, Share.share_name.in_(wanted)
        )
    ).all()
    return any(wanted[name] - set(granted or []) for name, granted in existing)
