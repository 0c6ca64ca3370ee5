"""Azure AD checks of an upload: the requestor, the project's groups, and the e-mail domains of D2O recipients
and pipeline notifications.

The synced tables (`users`, `ad_groups`) answer first; Graph is asked only about what they do not know,
and all Graph calls of one upload share one time budget (default 2 s). When Graph is not configured, is
unreachable, throttles us or runs out of budget, the checks that needed it are skipped and say so in a
warning: the upload must not depend on Azure AD being up. A check that fails is an error located at the
field it concerns ("alice@example.com is disabled in Azure AD" at `metadata.requestor`).

With ``cache_seconds`` (the API sets a few seconds) what the tables and Graph said of a user or a group is
reused for that long, so a burst of uploads by the same people costs one query (the tenant and project, which
administrators change, are always read, once per upload: the access rules take them from the check); answers
Graph could not give are not kept,
and an upload the kept answers would refuse is checked again live, so only the directory's current word
refuses one (the same rule as the pre-flight's cache, `shared.preflight.cache`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.access.directory import UploadTarget, resolve_upload_target
from shared.graph.client import GraphClient
from shared.graph.errors import GraphError, GraphNotFound, GraphUnavailable
from shared.models import AdGroup, User
from shared.preflight.cache import ReadCache
from shared.share_pack_file.issues import Findings, Path
from shared.share_pack_file.model import RecipientType, SharePackSpec

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
NOT_CONFIGURED = "Azure AD (Microsoft Graph) is not configured"
T = TypeVar("T")


@dataclass(frozen=True)
class _Known:
    """What the directory says of a name: None when it cannot tell (not synced, Graph unusable)."""

    exists: bool
    active: bool = True


@dataclass(frozen=True)
class _TenantFacts:
    """What the checks need of a registered tenant and the pack's project."""

    business_line_name: str
    allowed_email_domains: tuple[str, ...]
    project_name: str | None = None
    approver_groups: tuple[str, ...] = ()
    configurator_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, target: UploadTarget | None) -> _TenantFacts | None:
        if target is None:
            return None
        tenant, project = target.tenant, target.project
        facts = cls(tenant.business_line_name, tuple(str(d) for d in tenant.allowed_email_domains or ()))
        if project is None:
            return facts
        return replace(facts, project_name=project.project_name,
                       approver_groups=tuple(str(g) for g in project.approver or ()),
                       configurator_groups=tuple(str(g) for g in project.configurator or ()))


class AdValidator:
    """Validates the directory facts of share packs for one deployment.

    Args:
        client: a Graph client, or None when Graph is not configured (checks the tables only).
        budget_seconds: the time all Graph calls of one upload may take together.
        cache_seconds: how long an answer of the tables or Graph is reused (0: never; up to twice that while
            one caller reads it again, see `ReadCache`).
    """

    def __init__(self, client: GraphClient | None, *, budget_seconds: float = 2.0, cache_seconds: float = 0.0) -> None:
        self.client = client
        self.budget_seconds = budget_seconds
        self._cache = ReadCache(cache_seconds) if cache_seconds > 0 else None

    def check(self, session: Session, spec: SharePackSpec, findings: Findings, workspace_url: str
              ) -> UploadTarget | None:
        """Add errors and warnings about `pack` to `findings`; return the tenant and project the pack names, as
        the access rules resolve them for an upload to ``workspace_url`` (None: not registered), so the upload
        reads them once."""
        metadata = spec.metadata
        target = resolve_upload_target(session, metadata.business_line, metadata.project_name, workspace_url)
        tenant = _TenantFacts.of(target)
        found = _Found()
        self._check(_Lookups(session, self.client, self.budget_seconds, self._cache), spec, tenant, found)
        if self._cache is not None and found.has_errors:  # kept answers may only let an upload through
            found = _Found()
            self._check(_Lookups(session, self.client, self.budget_seconds, self._cache, fresh=True), spec, tenant,
                        found)
        found.add_to(findings)
        return target

    def _check(self, lookups: _Lookups, spec: SharePackSpec, tenant: _TenantFacts | None, findings: _Found) -> None:
        self._check_requestor(lookups, spec.metadata.requestor.strip(), findings)
        if tenant is None:
            return  # an unregistered tenant is the access rules' refusal, not a directory question
        if tenant.project_name is not None:
            for role, groups in (("Approver", tenant.approver_groups), ("Configurator", tenant.configurator_groups)):
                for name in groups:
                    self._check_group(lookups, name, role, tenant.project_name, findings)
        self._check_domains(tenant, spec, findings)

    def _check_requestor(self, lookups: _Lookups, email: str, findings: _Found) -> None:
        path = ("metadata", "requestor")
        known = lookups.user(email)
        if isinstance(known, str):
            findings.warn(path, f"The Azure AD check of the requestor {email} was skipped: {known}")
        elif not known.exists:
            findings.error(path, f"{email} does not exist in Azure AD")
        elif not known.active:
            findings.error(path, f"{email} is disabled in Azure AD")

    def _check_group(self, lookups: _Lookups, name: str, role: str, project: str, findings: _Found) -> None:
        path = ("metadata", "project_name")
        known = lookups.group(name)
        if isinstance(known, str):
            findings.warn(path, f"The Azure AD check of {role.lower()} group {name!r} of project {project!r} "
                                f"was skipped: {known}")
        elif not known.exists:
            findings.error(path, f"{role} group {name!r} of project {project!r} does not exist in Azure AD")

    @staticmethod
    def _check_domains(tenant: _TenantFacts, spec: SharePackSpec, findings: _Found) -> None:
        allowed = [str(d).strip().lower().lstrip("@") for d in tenant.allowed_email_domains if str(d).strip()]
        if not allowed:
            return
        def outside(address: str) -> bool:
            domain = address.rsplit("@", 1)[-1].strip().lower()
            return not any(domain == d or domain.endswith(f".{d}") for d in allowed)

        for index, recipient in enumerate(spec.recipients):
            if recipient.type == RecipientType.D2O and recipient.email and outside(recipient.email):
                findings.error(("recipient", index, "email"),
                               f"{recipient.email} is not in a domain tenant {tenant.business_line_name!r} allows "
                               f"for D2O recipients ({', '.join(allowed)})")
        # A pipeline's failure mails name its tables and errors: they go to the same domains only.
        for index, pipeline in enumerate(spec.pipelines):
            for address in pipeline.notification_list:
                if outside(address):
                    findings.error(("pipelines", index, "notification_list"),
                                   f"{address} is not in a domain tenant {tenant.business_line_name!r} allows for "
                                   f"pipeline notifications ({', '.join(allowed)})")
                    break


class _Found:
    """One check's issues, held until it is known whether a live check must replace them."""

    def __init__(self) -> None:
        self.issues: list[tuple[bool, Path, str]] = []

    @property
    def has_errors(self) -> bool:
        return any(is_error for is_error, _, _ in self.issues)

    def error(self, path: Path, message: str) -> None:
        self.issues.append((True, path, message))

    def warn(self, path: Path, message: str) -> None:
        self.issues.append((False, path, message))

    def add_to(self, findings: Findings) -> None:
        for is_error, path, message in self.issues:
            (findings.error if is_error else findings.warn)(path, message)


class _Lookups:
    """One upload's directory lookups: the synced tables first, then Graph, each kept in ``cache`` if any."""

    def __init__(self, session: Session, client: GraphClient | None, budget_seconds: float,
                 cache: ReadCache | None, *, fresh: bool = False) -> None:
        self.session = session
        self.run = _Run(client, time.monotonic() + budget_seconds)
        self.cache = cache
        self.fresh = fresh

    def _get(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        if self.cache is None:
            return load()
        return self.cache.get(key, load, fresh=self.fresh, keep=lambda v: not isinstance(v, str))

    def user(self, email: str) -> _Known | str:
        """The requestor's existence and state, or the reason nobody could tell."""
        return self._get(("user", email.lower()), lambda: self._user(email))

    def _user(self, email: str) -> _Known | str:
        row = self.session.execute(select(User.is_deleted, User.is_active).where(
            User.is_current, func.lower(User.email) == email.lower()).limit(1)).first()
        if row is not None:
            return _Known(exists=not row.is_deleted, active=row.is_active)
        return self.run.user(email)

    def group(self, name: str) -> _Known | str:
        """Whether a group (display name or object id) exists, or the reason nobody could tell."""
        return self._get(("group", name.strip().lower()), lambda: self._group(name.strip()))

    def _group(self, name: str) -> _Known | str:
        lowered = name.lower()
        synced = self.session.scalar(select(func.count()).select_from(AdGroup).where(
            AdGroup.is_current, ~AdGroup.is_deleted,
            or_(func.lower(AdGroup.group_name) == lowered, func.lower(AdGroup.ad_object_id) == lowered)))
        return _Known(exists=True) if synced else self.run.group(name)


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
