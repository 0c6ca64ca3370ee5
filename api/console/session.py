"""Who is signed in to the console, and the CSRF token every form carries.

The session lives in Flask's signed cookie (https://flask.palletsprojects.com/en/stable/api/#sessions): it
holds the caller's identity, the workspace they chose, a CSRF token and a random session id, never the API
key itself. The cookie is HTTP-only and SameSite=Lax always, Secure in production (and whenever the request
came over HTTPS).

A signed cookie cannot be taken back, so each session also has a row on the server
(`workflow_runtime.console_sessions`, keyed by the SHA-256 of the session id): sign-out revokes it, and a
session is refused once it is older than `console_session_lifetime_seconds` or has been unused for
`console_session_idle_seconds` (https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html
#session-expiration). The database's clock decides, so every API process agrees.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete, func, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import Function

from shared.access.principals import Principal
from shared.models.runtime import ConsoleSessionRow
from shared.platform.settings import Settings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_PRINCIPAL = "principal"
_WORKSPACE = "workspace_url"
_CSRF = "csrf"
_SESSION_ID = "sid"
# A browser drops a cookie above 4096 bytes (RFC 6265 §6.1); a group id takes about 25 of them once compressed.
# An Entra user with more groups keeps none in the cookie: they are read from the directory (briefly cached).
MAX_GROUPS_IN_COOKIE = 60


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Marks the cookie Secure when the request is HTTPS (or the deployment says so for every request)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def configure_sessions(app: Flask, settings: Settings) -> None:
    app.secret_key = settings.console_secret_key or secrets.token_hex(32)
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="sharepack_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/console",
        # Production is served over TLS only (its ingress redirects HTTP), so the cookie never travels in clear.
        SESSION_COOKIE_SECURE=settings.deployment == "production",
        # Flask also refuses a cookie signed longer ago than this (the database check below is the rule).
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.console_session_lifetime_seconds),
    )


def sign_in(principal: Principal, workspace_url: str, sessions: sessionmaker[Session], settings: Settings) -> None:
    """Start a new session for `principal`: a new session id, recorded on the server, in a fresh cookie."""
    session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation of an earlier one
    session_id = secrets.token_urlsafe(32)
    with sessions.begin() as db:
        # Sessions past their lifetime cannot come back: forget them while we are here.
        db.execute(delete(ConsoleSessionRow).where(
            ConsoleSessionRow.created_at < func.now() - _seconds(settings.console_session_lifetime_seconds)))
        db.add(ConsoleSessionRow(session_hash=_hash(session_id), identity=principal.identity))
    session[_SESSION_ID] = session_id
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


def sign_out(sessions: sessionmaker[Session]) -> None:
    """End the session on the server too: the cookie, and any copy of it, is refused from now on."""
    session_id = session.get(_SESSION_ID)
    if isinstance(session_id, str):
        with sessions.begin() as db:
            db.execute(update(ConsoleSessionRow)
                       .where(ConsoleSessionRow.session_hash == _hash(session_id),
                              ConsoleSessionRow.revoked_at.is_(None))
                       .values(revoked_at=func.now()))
    session.clear()


def signed_in_principal(
    settings: Settings,
    directory_groups: Callable[[str], frozenset[str]],
    sessions: sessionmaker[Session],
    *,
    activity: bool = True,
) -> Principal | None:
    """The principal of this session; None if signed out, expired, revoked, or if their API key was removed.

    An API key's administrator flag is read from the settings again, so a change applies at once.
    `directory_groups(oid)` gives the groups of an Entra user who has too many for the cookie.
    `activity=False` (a page polling by itself) checks the session without counting as use.
    """
    stored = session.get(_PRINCIPAL)
    if not isinstance(stored, dict) or not stored.get("identity"):
        return None
    if not _session_is_live(session.get(_SESSION_ID), settings, sessions, activity=activity):
        session.clear()  # the browser drops the dead cookie with this response
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


def _session_is_live(session_id: object, settings: Settings, sessions: sessionmaker[Session], *,
                     activity: bool) -> bool:
    """Whether the session's row exists, is not revoked and is within both lifetimes (and mark its use)."""
    if not isinstance(session_id, str):
        return False  # a cookie from before sessions were kept on the server, or a forged one
    row = ConsoleSessionRow
    live = (
        (row.session_hash == _hash(session_id)) & row.revoked_at.is_(None)
        & (row.created_at > func.now() - _seconds(settings.console_session_lifetime_seconds))
        & (row.last_seen_at > func.now() - _seconds(settings.console_session_idle_seconds))
    )
    with sessions.begin() as db:
        found = db.execute(
            update(row).where(live).values(last_seen_at=func.now() if activity else row.last_seen_at)
            .returning(row.session_hash)
        ).first()
    return found is not None


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _seconds(count: int) -> Function[Any]:
    """`count` seconds as a PostgreSQL interval."""
    return func.make_interval(0, 0, 0, 0, 0, 0, count)


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
