"""Every permission decision of the routes goes through these functions, so the access model plugs in here.

Until the access model (issue 9) exists, an authenticated caller is enough; `require_administrator` and
`require_configurator` are where its checks go.
"""

from __future__ import annotations

from flask import g, request

from api.auth import Caller
from api.context import services


def authenticated_caller() -> Caller:
    """The caller of this request, authenticated once and kept for the request."""
    if "caller" not in g:
        g.caller = services().authenticator.authenticate(request.headers.get("Authorization"))
    return g.caller


def require_administrator() -> Caller:
    """The caller, if they may operate the service (sync runs); raises otherwise."""
    return authenticated_caller()


def require_configurator(project_name: str | None) -> Caller:
    """The caller, if they may change the sharing set-up of `project_name` (rotate a recipient's token)."""
    return authenticated_caller()
