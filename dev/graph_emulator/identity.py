"""The emulated Entra ID sign-in: OpenID Connect discovery, signing keys, authorize and the code grant.

A web app signs a user in with the authorization code flow and PKCE
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow): the browser goes to
``/{tenant}/oauth2/v2.0/authorize``, the user is picked on a small page (the emulator's "login"; or at once
with a ``login_hint`` naming a user), and the browser returns to ``redirect_uri`` with ``code`` and
``state``. The app then redeems the code at ``/{tenant}/oauth2/v2.0/token`` with its secret and the PKCE
``code_verifier`` and receives an RS256 ID token whose keys are published at
``/{tenant}/discovery/v2.0/keys``.

Refusals are Entra's: ``invalid_grant`` with AADSTS70000 (unknown code or other redirect URI), AADSTS70008
(expired code), AADSTS54005 (code already redeemed) and AADSTS501481 (verifier does not match the
challenge). Codes live 10 minutes on the directory's clock (``advance-clock`` expires them).

A user in more than 200 groups gets no ``groups`` claim but ``_claim_names``/``_claim_sources``, as Entra
does for JWTs (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from dev.graph_emulator.directory import Directory

#: The console's app registration in the emulator (a development emulator's well-known secret).
CONSOLE_CLIENT_ID = "console-local-client"
CONSOLE_CLIENT_SECRET = "console-local-secret"
#: The console's registered redirect URIs: its callback on a loopback host, any port (see `redirect_registered`).
CONSOLE_REDIRECT_URIS = (
    "http://localhost/console/sign-in/microsoft/callback",
    "http://127.0.0.1/console/sign-in/microsoft/callback",
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CODE_LIFETIME_SECONDS = 600  # "Authorization codes are short lived. Typically, they expire after about 10 minutes."
ID_TOKEN_LIFETIME_SECONDS = 3600
#: Above this many groups a JWT carries the overage claim instead of ``groups``.
GROUPS_CLAIM_LIMIT = 200
#: The most users the pick page lists (a seeded benchmark directory holds tens of thousands).
PICK_PAGE_USERS = 100


@dataclass(frozen=True)
class Reply:
    """What the identity endpoints answer: status, and a JSON payload or an HTML page, with headers."""

    status: int
    payload: Any = None
    html: str | None = None
    headers: Mapping[str, str] | None = None


@dataclass
class _Grant:
    """An issued authorization code and what its redemption must match."""

    client_id: str
    redirect_uri: str
    user_id: str
    nonce: str | None
    scope: str
    challenge: str | None
    expires_at: float
    redeemed: bool = False


class IdentityProvider:
    """Signs users in for the registered ``clients`` (``client_id -> secret``) of one emulator, each sent back
    only to its registered ``redirect_uris`` (``client_id -> URIs``; a client without any cannot sign in)."""

    def __init__(self, directory: Directory, clients: Mapping[str, str],
                 redirect_uris: Mapping[str, Sequence[str]] | None = None) -> None:
        self.directory = directory
        self.clients = clients
        self.redirect_uris = {client: tuple(uris) for client, uris in (redirect_uris or {}).items()}
        # A fresh key per process: ID tokens are redeemed at once, and a client refetches the keys when it
        # sees an unknown `kid` (https://learn.microsoft.com/entra/identity-platform/signing-key-rollover).
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.kid = hashlib.sha256(public_jwk["n"].encode()).hexdigest()[:20]
        self._jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    # -- discovery -----------------------------------------------------------------------------------

    def openid_configuration(self, base_url: str, tenant: str) -> Reply:
        base = f"{base_url}/{tenant}"
        return Reply(200, {
            "issuer": issuer(base_url, tenant),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "tenant_region_scope": "EU",
        })

    def keys(self) -> Reply:
        return Reply(200, {"keys": [self._jwk]})

    # -- authorize -----------------------------------------------------------------------------------

    def authorize(self, tenant: str, method: str, query: Mapping[str, str], body: bytes) -> Reply:
        """The pick page (GET), or the redirect back to the app once a user is picked (POST or login_hint)."""
        params = dict(query)
        if method == "POST":
            params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id not in self.clients:
            return _error_page(400, 700016, f"Application with identifier '{client_id}' was not found in the "
                               "directory.")
        if not redirect_registered(redirect_uri, self.redirect_uris.get(client_id, ())):
            return _error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request does not "
                               f"match the redirect URIs configured for the application '{client_id}'.")
        state = params.get("state")
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, state, error="unsupported_response_type",
                             error_description="AADSTS70005: response_type 'id_token' is not enabled for the "
                             "application.")
        if params.get("code_challenge") and params.get("code_challenge_method", "plain") != "S256":
            return _redirect(redirect_uri, state, error="invalid_request",
                             error_description="AADSTS501491: Invalid size of Code_Challenge parameter.")
        if params.get("cancel"):
            return _redirect(redirect_uri, state, error="access_denied",
                             error_description="AADSTS65004: User declined to consent to access the app.")
        picked = params.get("user") or params.get("login_hint")
        if picked:
            user_id = self._enabled_user(picked)
            if user_id is not None:
                return _redirect(redirect_uri, state, code=self._issue(params, user_id))
        return Reply(200, html=self._pick_page(tenant, params))

    def _enabled_user(self, ref: str) -> str | None:
        try:
            user_id = self.directory.user_id(ref)
        except ValueError:
            return None
        return user_id if self.directory.users[user_id].get("accountEnabled", True) else None

    def _issue(self, params: Mapping[str, str], user_id: str) -> str:
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            client_id=params["client_id"], redirect_uri=params["redirect_uri"], user_id=user_id,
            nonce=params.get("nonce"), scope=params.get("scope", "openid"),
            challenge=params.get("code_challenge"), expires_at=self.directory.now() + CODE_LIFETIME_SECONDS,
        )
        with self._lock:
            self._grants = {c: g for c, g in self._grants.items() if g.expires_at > self.directory.now()}
            self._grants[code] = grant
        return code

    def _pick_page(self, tenant: str, params: Mapping[str, str]) -> str:
        keep = {k: v for k, v in params.items() if k not in ("user", "login_hint", "cancel")}
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in keep.items())
        users = sorted((u for u in self.directory.users.values() if u.get("accountEnabled", True)),
                       key=lambda u: (str(u.get("displayName") or ""), u["id"]))[:PICK_PAGE_USERS]
        buttons = "".join(
            f'<li><button type="submit" name="user" value="{html.escape(u["id"])}">'
            f'{html.escape(str(u.get("displayName") or u["userPrincipalName"]))} '
            f'({html.escape(str(u["userPrincipalName"]))})</button></li>' for u in users
        ) or "<li>No users: seed the emulator's directory first.</li>"
        action = html.escape(f"/{tenant}/oauth2/v2.0/authorize")
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in: Entra ID emulator</title>'
            '</head><body><main><h1>Pick an account</h1>'
            "<p>The Graph emulator stands in for Microsoft Entra ID: choose who signs in.</p>"
            f'<form method="post" action="{action}">{hidden}<ul>{buttons}</ul>'
            '<button type="submit" name="cancel" value="1">Cancel</button></form></main></body></html>'
        )

    # -- token ---------------------------------------------------------------------------------------

    def redeem(self, base_url: str, tenant: str, form: Mapping[str, str],
               error: Callable[[int, str, int, str], Any]) -> Any:
        """``grant_type=authorization_code``: the ID token for a valid, unused code; Entra's errors otherwise.

        ``error(status, error, code, description)`` builds the token endpoint's error reply.
        """
        client_id = form.get("client_id", "")
        if client_id not in self.clients or not hmac.compare_digest(self.clients[client_id],
                                                                    form.get("client_secret", "")):
            return error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                         "being sent in the request is the client secret value, not the client secret ID.")
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            already_redeemed = grant is not None and grant.redeemed
            if grant is not None:
                grant.redeemed = True  # one attempt per code, whatever its outcome (RFC 6749 §4.1.2)
        if grant is None or grant.client_id != client_id:
            return error(400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid.")
        if already_redeemed:
            return error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please "
                         "retry with a new valid code or use an existing refresh token.")
        if grant.expires_at <= self.directory.now():
            return error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has "
                         "expired due to inactivity. Send a new interactive authorization request for this user "
                         "and resource.")
        if form.get("redirect_uri") != grant.redirect_uri:
            return error(400, "invalid_grant", 70000, "The provided value for the 'redirect_uri' is not valid. "
                         "The value must exactly match the redirect URI used to obtain the authorization code.")
        if grant.challenge is not None and not hmac.compare_digest(s256(form.get("code_verifier", "")),
                                                                   grant.challenge):
            return error(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                         "supplied in the authorization request.")
        return Reply(200, {
            "token_type": "Bearer",
            "scope": grant.scope,
            "expires_in": ID_TOKEN_LIFETIME_SECONDS,
            "ext_expires_in": ID_TOKEN_LIFETIME_SECONDS,
            "access_token": secrets.token_urlsafe(32),  # for Graph, which this emulator's console never calls
            "id_token": self.id_token(base_url, tenant, client_id, grant.user_id, nonce=grant.nonce),
        })

    def id_token(self, base_url: str, tenant: str, client_id: str, user_id: str, *, nonce: str | None) -> str:
        """A v2.0 ID token for ``user_id`` (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference)."""
        user = self.directory.users[user_id]
        now = int(self.directory.now())
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": issuer(base_url, tenant),
            "aud": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME_SECONDS,
            "tid": tenant,
            "oid": user_id,
            # `sub` is pairwise: the same user has another `sub` in another app.
            "sub": hashlib.sha256(f"{client_id}/{user_id}".encode()).hexdigest()[:43],
            "name": user.get("displayName"),
            "preferred_username": user.get("userPrincipalName"),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        groups = self.transitive_groups(user_id)
        if len(groups) > GROUPS_CLAIM_LIMIT:
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {
                "src1": {"endpoint": f"https://graph.microsoft.com/v1.0/users/{user_id}/getMemberObjects"}
            }
        else:
            claims["groups"] = groups
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def transitive_groups(self, user_id: str) -> list[str]:
        """Every group the user belongs to, directly or through nested groups, in id order."""
        with self.directory._lock:
            containing: dict[str, list[str]] = {}
            for gid, members in self.directory.members.items():
                for member in members:
                    containing.setdefault(member, []).append(gid)
            seen: set[str] = set()
            stack = list(containing.get(user_id, ()))
            while stack:
                gid = stack.pop()
                if gid not in seen and gid in self.directory.groups:
                    seen.add(gid)
                    stack.extend(containing.get(gid, ()))
            return sorted(seen)


def redirect_registered(redirect_uri: str, registered: Sequence[str]) -> bool:
    """Whether Entra would send a browser to ``redirect_uri`` for an app registering ``registered``.

    The match is exact (case-sensitive, path included), except that for a loopback host (``localhost``,
    ``127.0.0.1``, ``[::1]``) the port is ignored
    (https://learn.microsoft.com/entra/identity-platform/reply-url#localhost-exceptions, RFC 8252 §7.3). The host
    itself must match: ``localhost`` and ``127.0.0.1`` are different registrations here, the stricter reading.
    """
    if redirect_uri in registered:
        return True
    asked = urlsplit(redirect_uri)
    if asked.scheme != "http" or asked.hostname not in _LOOPBACK_HOSTS:
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (known.scheme, known.hostname, known.path, known.query) == (
                asked.scheme, asked.hostname, asked.path, asked.query):
            return True
    return False


def issuer(base_url: str, tenant: str) -> str:
    """The v2.0 issuer of ``tenant``: ``https://login.microsoftonline.com/{tid}/v2.0`` at Entra."""
    return f"{base_url}/{tenant}/v2.0"


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _redirect(redirect_uri: str, state: str | None, **params: str) -> Reply:
    query = {**params, **({"state": state} if state is not None else {})}
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return Reply(302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})


def _error_page(status: int, code: int, description: str) -> Reply:
    """Entra shows errors it cannot send back to a trusted redirect URI on its own page."""
    text = html.escape(f"AADSTS{code}: {description}")
    return Reply(status, html=(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>'
        f'<body><main><h1>Sorry, but we are having trouble signing you in.</h1><p id="error">{text}</p>'
        f"<p>Time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}</p></main></body></html>"
    ))
