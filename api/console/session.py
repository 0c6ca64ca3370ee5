"""Who is signed in to the console, and the CSRF token every form carries.

The session lives in Flask's signed cookie (https://flask.palletsprojects.com/en/stable/api/#sessions): it
holds the caller's identity, the workspace they chose and a CSRF token, never the API key itself. The cookie
is HTTP-only and SameSite=Lax always, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from api.auth import Caller

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_IDENTITY = "identity"
_METHOD = "method"
_WORKSPACE = "workspace_url"
_CSRF = "csrf"


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


def sign_in(caller: Caller, workspace_url: str) -> None:
    session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation of an earlier one
    session[_IDENTITY] = caller.identity
    session[_METHOD] = caller.method
    session[_WORKSPACE] = workspace_url


def sign_out() -> None:
    session.clear()


def signed_in_caller() -> Caller | None:
    identity = session.get(_IDENTITY)
    return Caller(identity=identity, method=session.get(_METHOD, "api_key")) if identity else None


def chosen_workspace() -> str:
    return session[_WORKSPACE]


def csrf_token() -> str:
    if _CSRF not in session:
        session[_CSRF] = secrets.token_urlsafe(32)
    return session[_CSRF]


def csrf_token_is_valid(presented: str | None) -> bool:
    expected = session.get(_CSRF)
    return bool(expected and presented and hmac.compare_digest(expected, presented))
