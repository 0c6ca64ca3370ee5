"""Permission decisions of the operator and recipient routes, made by the access model (`shared.access`)."""

from __future__ import annotations

from flask import g

from api.context import access, authenticate
from shared.access.principals import Principal
from shared.models import Project, Tenant


def authenticated_caller() -> Principal:
    """The caller of this request, authenticated once and kept for the request."""
    if "caller" not in g:
        authenticate()
    return g.caller


def require_administrator(action: str) -> Principal:
    """The caller, if they administer the service; `Forbidden` naming `action` otherwise."""
    principal = authenticated_caller()
    access().require_admin(action)
    return principal


def require_project_configurator(tenant: Tenant | None, project: Project | None, action: str) -> Principal:
    """The caller, if they configure `project` (or its tenant), or administer the service."""
    principal = authenticated_caller()
    access().require_project_configurator(tenant, project, action)
    return principal
