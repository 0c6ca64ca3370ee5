"""Who is signed in to the console, and the CSRF token every form carries.

The session lives in Flask's signed cookie (https://flask.palletsprojects.com/en/stable/api/#sessions): it
holds the caller's identity, the workspace they chose and a CSRF token, never the API key itself. The cookie
is HTTP-only and SameSite=Lax always, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from shared.access.principals import Principal
from shared.settings import Settings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_PRINCIPAL = "principal"
_WORKSPACE = "workspace_url"
_CSRF = "csrf"
# A browser drops a cookie above 4096 bytes (RFC 6265 §6.1); a group id takes about 25 of them once compressed.
# An Entra user with more groups keeps none in the cookie: they are read from the directory (briefly cached).
MAX_GROUPS_IN_COOKIE = 60


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Marks the cookie Secure when the request is HTTPS (or the deployment says so for every request)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def configure_sessions(app: Flask, secret_key: str | None) -> None:
    app.secret_key = secret_key or secrets.token_hex(32)
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="sharepack_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/console",
    )


def sign_in(principal: Principal, workspace_url: str) -> None:
    session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation of an earlier one
    groups_in_cookie = len(principal.token_groups) <= MAX_GROUPS_IN_COOKIE
    session[_PRINCIPAL] = {
        "identity": principal.identity,
        "key": principal.key,
        "method": principal.method,
        "is_admin": principal.is_admin,
        "token_groups": sorted(principal.token_groups) if groups_in_cookie else [],
        "groups_from_directory": not groups_in_cookie,
        "object_id": principal.object_id,
    }
    session[_WORKSPACE] = workspace_url


def sign_out() -> None:
    session.clear()


def signed_in_principal(
    settings: Settings, directory_groups: Callable[[str], frozenset[str]]
) -> Principal | None:
    """The principal of this session; None if signed out, or if their API key was removed since.

    An API key's administrator flag is read from the settings again, so a change applies at once.
    `directory_groups(oid)` gives the groups of an Entra user who has too many for the cookie.
    """
    stored = session.get(_PRINCIPAL)
    if not isinstance(stored, dict) or not stored.get("identity"):
        return None
    if stored.get("method") == "api_key":
        name = stored["identity"]
        if not any(key.name == name for key in settings.api_keys):
            return None
        return Principal.from_api_key(name, admins=settings.admin_principals)
    return Principal(
        identity=stored["identity"],
        key=stored["key"],
        method=stored["method"],
        is_admin=bool(stored.get("is_admin")),
        token_groups=(
            directory_groups(str(stored["object_id"])) if stored.get("groups_from_directory")
            else frozenset(stored.get("token_groups") or ())
        ),
        object_id=stored.get("object_id"),
    )


def chosen_workspace() -> str:
    return session[_WORKSPACE]


def csrf_token() -> str:
    if _CSRF not in session:
        session[_CSRF] = secrets.token_urlsafe(32)
    return session[_CSRF]


def csrf_token_is_valid(presented: str | None) -> bool:
    expected = session.get(_CSRF)
    # compare_digest refuses non-ASCII text (TypeError); compared as bytes, a forged token is just wrong.
    return bool(expected and presented
                and hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogateescape")))
