"""The rules: who may upload, see, approve and administer. Each refusal is `Forbidden` naming its rule.

`Access` binds one principal to the groups they are in (read once per request) and answers questions about
tenants, projects and packs. Visibility refusals are `NotFound`, worded like an unknown id, so a caller cannot
learn that another tenant's pack exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from shared.access.membership import member_of
from shared.access.principals import Principal
from shared.models import Project, SharePack, Tenant
from shared.platform.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Visibility:
    """Whose packs a principal sees: every pack of ``tenant_ids`` (tenant configurators), and the packs of
    ``project_ids`` only (a project's approvers and configurators see that project's packs, not its tenant's)."""

    tenant_ids: frozenset[uuid.UUID]
    project_ids: frozenset[uuid.UUID]

    def sees(self, pack: SharePack) -> bool:
        return pack.tenant_id in self.tenant_ids or pack.project_id in self.project_ids

    def where(self) -> ColumnElement[bool]:
        """The SQL condition on `SharePack` rows this principal sees."""
        return or_(SharePack.tenant_id.in_(sorted(self.tenant_ids)), SharePack.project_id.in_(sorted(self.project_ids)))


@dataclass(frozen=True)
class Access:
    """What one principal may do, given the groups they belong to."""

    principal: Principal
    groups: frozenset[str]

    @classmethod
    def load(cls, session: Session, principal: Principal) -> Access:
        return cls(principal=principal, groups=member_of(session, principal))

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    def _in_any(self, groups: Iterable[object]) -> bool:
        return any(isinstance(g, str) and g.lower() in self.groups for g in groups)

    def is_tenant_configurator(self, tenant: Tenant) -> bool:
        return self._in_any(tenant.configurator_ad_group)

    def is_project_configurator(self, project: Project | None) -> bool:
        return project is not None and self._in_any(project.configurator)

    def is_project_approver(self, project: Project | None) -> bool:
        return project is not None and self._in_any(project.approver)

    def is_self(self, identity: str | None) -> bool:
        return identity is not None and identity.strip().lower() == self.principal.identity.lower()

    # -- rules ---------------------------------------------------------------------------------------------

    def require_admin(self, action: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"Only administrators may {action}")

    def require_tenant_configurator(self, tenant: Tenant, action: str) -> None:
        if not (self.is_admin or self.is_tenant_configurator(tenant)):
            raise Forbidden(
                f"Only administrators and configurators of business line {tenant.business_line_name!r} may {action}"
            )

    def require_project_configurator(self, tenant: Tenant | None, project: Project | None, action: str) -> None:
        if self.is_admin or self.is_project_configurator(project):
            return
        if tenant is not None and self.is_tenant_configurator(tenant):
            return
        raise Forbidden(
            f"Only configurators of the owning project or its business line, and administrators, may {action}"
        )

    def require_uploader(self, tenant: Tenant, project: Project | None) -> None:
        if self.is_admin or self.is_tenant_configurator(tenant) or self.is_project_configurator(project):
            return
        raise Forbidden(
            f"Only configurators of business line {tenant.business_line_name!r} or of its project, "
            "and administrators, may upload share packs for it"
        )

    def require_approver(self, project: Project | None, pack: SharePack, requestor: str | None) -> None:
        if self.is_self(pack.requested_by) or self.is_self(requestor):
            raise Forbidden("The requestor of a share pack may not approve or decline it")
        if not self.is_project_approver(project):
            raise Forbidden("Only approvers of the share pack's project may approve or decline it")

    # -- visibility ----------------------------------------------------------------------------------------

    def visible(self, session: Session) -> Visibility | None:
        """Whose packs this principal sees; None means all (administrators)."""
        if self.is_admin:
            return None
        tenants = frozenset(
            t.tenant_id
            for t in session.scalars(select(Tenant).where(Tenant.is_current, ~Tenant.is_deleted))
            if self.is_tenant_configurator(t)
        )
        projects = frozenset(
            p.project_id
            for p in session.scalars(select(Project).where(Project.is_current, ~Project.is_deleted))
            if self.is_project_configurator(p) or self.is_project_approver(p)
        )
        return Visibility(tenants, projects)

    def require_visible(self, session: Session, pack: SharePack) -> None:
        """NotFound, worded like an unknown id, unless the principal sees the pack (its tenant or project)."""
        visible = self.visible(session)
        if visible is not None and not visible.sees(pack):
            raise NotFound(f"Share pack {pack.share_pack_id} not found")
