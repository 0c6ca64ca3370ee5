"""Azure AD checks of an upload: the requestor, the project's groups, and the e-mail domains of D2O recipients
and pipeline notifications.

The synced tables (`users`, `ad_groups`) answer first; Graph is asked only about what they do not know,
and all Graph calls of one upload share one time budget (default 2 s). When Graph is not configured, is
unreachable, throttles us or runs out of budget, the checks that needed it are skipped and say so in a
warning: the upload must not depend on Azure AD being up. A check that fails is an error located at the
field it concerns ("alice@example.com is disabled in Azure AD" at `metadata.requestor`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.graph.client import GraphClient
from shared.graph.errors import GraphError, GraphNotFound, GraphUnavailable
from shared.models import AdGroup, Project, Tenant, User
from shared.share_pack_file.issues import Findings
from shared.share_pack_file.model import RecipientType, SharePackSpec

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
NOT_CONFIGURED = "Azure AD (Microsoft Graph) is not configured"


@dataclass
class _Known:
    """What the directory says of a name: None when it cannot tell (not synced, Graph unusable)."""

    exists: bool
    active: bool = True


class AdValidator:
    """Validates the directory facts of share packs for one deployment.

    Args:
        client: a Graph client, or None when Graph is not configured (checks the tables only).
        budget_seconds: the time all Graph calls of one upload may take together.
    """

    def __init__(self, client: GraphClient | None, *, budget_seconds: float = 2.0) -> None:
        self.client = client
        self.budget_seconds = budget_seconds

    def check(self, session: Session, pack: SharePackSpec, findings: Findings) -> None:
        """Add errors and warnings about `pack` to `findings`."""
        run = _Run(self.client, time.monotonic() + self.budget_seconds)
        self._check_requestor(session, run, pack.metadata.requestor.strip(), findings)
        tenant = session.scalars(select(Tenant).where(
            Tenant.is_current, ~Tenant.is_deleted,
            func.lower(Tenant.business_line_name) == pack.metadata.business_line.strip().lower())).first()
        if tenant is None:
            return  # an unregistered tenant is the access rules' refusal, not a directory question
        project = session.scalars(select(Project).where(
            Project.is_current, ~Project.is_deleted, Project.tenant_id == tenant.tenant_id,
            func.lower(Project.project_name) == pack.metadata.project_name.strip().lower())).first()
        if project is not None:
            for role, groups in (("Approver", project.approver), ("Configurator", project.configurator)):
                for name in groups or ():
                    self._check_group(session, run, str(name), role, project.project_name, findings)
        self._check_domains(tenant, pack, findings)

    def _check_requestor(self, session: Session, run: _Run, email: str, findings: Findings) -> None:
        path = ("metadata", "requestor")
        row = session.scalars(select(User).where(User.is_current, func.lower(User.email) == email.lower())).first()
        if row is not None:
            known = _Known(exists=not row.is_deleted, active=row.is_active)
        else:
            known_or_reason = run.user(email)
            if isinstance(known_or_reason, str):
                findings.warn(path, f"The Azure AD check of the requestor {email} was skipped: {known_or_reason}")
                return
            known = known_or_reason
        if not known.exists:
            findings.error(path, f"{email} does not exist in Azure AD")
        elif not known.active:
            findings.error(path, f"{email} is disabled in Azure AD")

    def _check_group(self, session: Session, run: _Run, name: str, role: str, project: str,
                     findings: Findings) -> None:
        path = ("metadata", "project_name")
        lowered = name.strip().lower()
        synced = session.scalar(select(func.count()).select_from(AdGroup).where(
            AdGroup.is_current, ~AdGroup.is_deleted,
            or_(func.lower(AdGroup.group_name) == lowered, func.lower(AdGroup.ad_object_id) == lowered)))
        if synced:
            return
        known = run.group(name.strip())
        if isinstance(known, str):
            findings.warn(path, f"The Azure AD check of {role.lower()} group {name!r} of project {project!r} "
                                f"was skipped: {known}")
        elif not known.exists:
            findings.error(path, f"{role} group {name!r} of project {project!r} does not exist in Azure AD")

    @staticmethod
    def _check_domains(tenant: Tenant, pack: SharePackSpec, findings: Findings) -> None:
        allowed = [str(d).strip().lower().lstrip("@") for d in tenant.allowed_email_domains or () if str(d).strip()]
        if not allowed:
            return
        def outside(address: str) -> bool:
            domain = address.rsplit("@", 1)[-1].strip().lower()
            return not any(domain == d or domain.endswith(f".{d}") for d in allowed)

        for index, recipient in enumerate(pack.recipients):
            if recipient.type == RecipientType.D2O and recipient.email and outside(recipient.email):
                findings.error(("recipient", index, "email"),
                               f"{recipient.email} is not in a domain tenant {tenant.business_line_name!r} allows "
                               f"for D2O recipients ({', '.join(allowed)})")
        # A pipeline's failure mails name its tables and errors: they go to the same domains only.
        for index, pipeline in enumerate(pack.pipelines):
            for address in pipeline.notification_list:
                if outside(address):
                    findings.error(("pipelines", index, "notification_list"),
                                   f"{address} is not in a domain tenant {tenant.business_line_name!r} allows for "
                                   f"pipeline notifications ({', '.join(allowed)})")
                    break


class _Run:
    """Graph lookups of one upload: one deadline, and after the first outage no more calls."""

    def __init__(self, client: GraphClient | None, deadline: float) -> None:
        self.client = client
        self.deadline = deadline
        self.unusable: str | None = None if client is not None else NOT_CONFIGURED

    def user(self, email: str) -> _Known | str:
        """The user's existence and state, or the reason Graph could not tell."""
        literal = email.replace("'", "''")
        page = self._get("users", {"$filter": f"mail eq '{literal}' or userPrincipalName eq '{literal}'",
                                   "$select": "id,mail,userPrincipalName,accountEnabled"})
        if isinstance(page, str):
            return page
        users = page.get("value", [])
        if not users:
            return _Known(exists=False)
        return _Known(exists=True, active=any(u.get("accountEnabled", True) for u in users))

    def group(self, name: str) -> _Known | str:
        """Whether a group of that display name (or object id) exists, or the reason Graph could not tell."""
        if GUID.match(name):
            page = self._get(f"groups/{name}", {"$select": "id"})
            return page if isinstance(page, str) else _Known(exists=page != {})
        literal = name.replace("'", "''")
        page = self._get("groups", {"$filter": f"displayName eq '{literal}'", "$select": "id,displayName"})
        return page if isinstance(page, str) else _Known(exists=bool(page.get("value")))

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | str:
        if self.unusable is not None:
            return self.unusable
        assert self.client is not None
        try:
            return self.client.get(self.client.url(path, params), deadline=self.deadline)
        except GraphNotFound:
            return {}
        except GraphUnavailable as exc:
            self.unusable = ("Azure AD did not answer within the time budget" if "budget" in exc.message
                             else "Azure AD is unavailable")
        except GraphError as exc:
            self.unusable = f"Azure AD refused the lookup ({exc.code or exc.status})"
        return self.unusable
