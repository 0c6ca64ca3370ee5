"""The console's "Sign in with Microsoft": start the sign-in, and finish it when Entra ID sends the browser back.

The pending sign-in (state, nonce, PKCE verifier, chosen workspace) is kept in the session encrypted, since
Flask's cookie is signed but readable (https://flask.palletsprojects.com/en/stable/quickstart/#sessions),
expires after 10 minutes like Entra's codes, and is dropped when the browser comes back, whatever the outcome.
The signed-in session then holds the principal the ID token names, never a token.
Every failure ends on the sign-in page with a message, and a log line saying why.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import Response, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from api.console import _safe_next, _workspace_choices, blp
from api.console.oidc import EntraSignIn, PendingSignIn
from api.console.session import sign_in
from api.context import authenticator, services
from api.errors import status_for
from api.security_headers import CONTENT_SECURITY_POLICY
from shared.access.principals import principal_from_entra_claims
from shared.access.workspaces import resolve_workspace_url
from shared.platform.errors import Forbidden, InvalidInput, ServiceUnavailable, Unauthenticated, WorkflowError
from shared.platform.logging import get_logger

log = get_logger(__name__)

PENDING_SECONDS = 600
_PENDING = "entra_pending"
_CLIENT = "console_entra"


# The pages that show the sign-in form (its "Sign in with Microsoft" button posts to a route that redirects).
SIGN_IN_PAGES = frozenset({"console.sign_in_form", "console.sign_in_submit", "console.entra_start",
                           "console.entra_callback"})
_FORM_ACTION = "form-action 'self'"


@blp.context_processor
def _entra_offered() -> dict[str, bool]:
    return {"entra_sign_in": services().settings.console_entra_configured}


@blp.after_request
def _let_the_sign_in_form_reach_the_identity_provider(response: Response) -> Response:
    """`form-action` also governs the redirects that follow a form's submission (CSP Level 3), so the sign-in
    page's policy must name the identity provider's origin, or the browser blocks the redirect to authorize.
    https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy/form-action
    """
    settings = services().settings
    if settings.console_entra_configured and request.endpoint in SIGN_IN_PAGES:
        parts = urlsplit(settings.console_entra_authority or "")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            _FORM_ACTION, f"{_FORM_ACTION} {parts.scheme}://{parts.netloc}"
        )
    return response


@blp.post("/sign-in/microsoft")
def entra_start() -> WerkzeugResponse | tuple[str, int]:
    """Remember what the callback must match, then send the browser to Entra ID's authorize page."""
    svc = services()
    next_url = _safe_next(request.form.get("next"))
    try:
        if not svc.settings.console_entra_configured:
            raise InvalidInput("Sign-in with Microsoft is not configured here; sign in with an API key.")
        workspace = resolve_workspace_url(svc.session_factory, svc.settings, request.form.get("workspace_url"))
        pending = PendingSignIn.start(workspace, next_url)
        target = _client().authorization_url(pending)
    except (InvalidInput, ServiceUnavailable) as exc:
        return _refused(exc, next_url)
    session[_PENDING] = _cipher().encrypt(json.dumps(dataclasses.asdict(pending)).encode()).decode()
    return redirect(target)


@blp.get("/sign-in/microsoft/callback")
def entra_callback() -> WerkzeugResponse | tuple[str, int]:
    """Entra ID's answer: check it belongs to the sign-in this browser started, redeem the code, sign in."""
    pending = _take_pending()
    next_url = pending.next_url if pending else None
    try:
        if pending is None:
            raise InvalidInput("This sign-in was not started in this browser, or took longer than 10 minutes; "
                               "start again.")
        presented_state = request.args.get("state", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(presented_state, pending.state.encode()):
            raise InvalidInput("This answer from Microsoft does not belong to the sign-in you started; start again.")
        error = request.args.get("error")
        if error == "access_denied":
            raise Unauthenticated("Sign-in with Microsoft was cancelled.")
        if error or not request.args.get("code"):
            detail = (request.args.get("error_description") or error or "no code was returned").splitlines()[0]
            raise Unauthenticated(f"Microsoft Entra ID did not sign you in: {detail}")
        claims = _client().redeem(request.args["code"], pending)
        settings = services().settings
        _require_role(claims, settings.entra_required_roles)
        principal = principal_from_entra_claims(
            claims, admins=settings.admin_principals, overage_groups=authenticator().overage_groups.groups_of
        )
    except (InvalidInput, Unauthenticated, Forbidden, ServiceUnavailable) as exc:
        return _refused(exc, next_url)
    sign_in(principal, pending.workspace_url, services().session_factory, services().settings)
    log.info("console.signed_in", identity=principal.identity, method="entra")
    return redirect(pending.next_url or url_for("console.packs"))


def _require_role(claims: dict[str, Any], required: tuple[str, ...]) -> None:
    """The console admits whom the API admits: when the API requires app roles, the ID token must carry one."""
    roles = {r for r in claims.get("roles") or [] if isinstance(r, str)}
    if required and not roles & set(required):
        raise Forbidden(f"Your account has none of the app roles this service requires ({', '.join(required)}).")


def _refused(exc: WorkflowError, next_url: str | None) -> tuple[str, int]:
    status = status_for(exc)[0]
    log.info("console.sign_in_refused", method="entra", status=status, reason=exc.message)
    page = render_template("sign_in.html", workspaces=_workspace_choices(), next=next_url, error=exc.message)
    return page, status


def _take_pending() -> PendingSignIn | None:
    sealed = session.pop(_PENDING, None)
    if not isinstance(sealed, str):
        return None
    try:
        data = json.loads(_cipher().decrypt(sealed.encode(), ttl=PENDING_SECONDS))
        return PendingSignIn(**data)
    except (InvalidToken, ValueError, TypeError):
        return None


def _cipher() -> Fernet:
    """A key of its own, derived from the session key (rotating that key ends pending sign-ins too)."""
    secret = str(current_app.secret_key).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"console-entra-pending:" + secret).digest()))


def _client() -> EntraSignIn:
    """One client per app: it caches the tenant's OpenID configuration and signing keys."""
    client = current_app.extensions.get(_CLIENT)
    if client is None:
        settings = services().settings
        assert settings.console_entra_client_id and settings.console_entra_client_secret
        assert settings.console_entra_authority and settings.console_entra_redirect_uri
        client = EntraSignIn(
            authority=settings.console_entra_authority,
            client_id=settings.console_entra_client_id,
            client_secret=settings.console_entra_client_secret,
            redirect_uri=settings.console_entra_redirect_uri,
        )
        current_app.extensions[_CLIENT] = client
    return client
