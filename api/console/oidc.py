"""The console's OpenID Connect client for Microsoft Entra ID: authorization code flow with PKCE (S256).

Hand-checked with requests and PyJWT rather than MSAL for Python, for two reasons. MSAL validates an
authority against Microsoft's instance discovery and an `https` scheme, so it cannot talk to the local Graph
emulator over plain HTTP without switching those checks off; and since 1.38 MSAL no longer verifies an ID
token's signature (AzureAD/microsoft-authentication-library-for-python#656), so the checks below would be
needed anyway. What is checked follows https://learn.microsoft.com/entra/identity-platform/id-tokens:
signature against the tenant's published keys, issuer (which names the tenant), audience (our client id),
`exp`/`nbf` with 60 s of clock skew, and the `nonce` this sign-in sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from api.signing_keys import SigningKeys
from shared.platform.errors import ServiceUnavailable, Unauthenticated

CLOCK_SKEW_SECONDS = 60
TIMEOUT_SECONDS = 10.0
SCOPES = "openid profile"

# What a refused code means for the person signing in (AADSTS codes: https://login.microsoftonline.com/error).
_CODE_REFUSALS = {
    70008: "The sign-in took too long and its code expired; sign in again.",
    54005: "This sign-in was already completed once; sign in again.",
    501481: "The sign-in could not be verified (its PKCE proof did not match); sign in again.",
}


@dataclass(frozen=True)
class PendingSignIn:
    """What one sign-in must match when the browser comes back: kept encrypted in the session, used once."""

    state: str
    nonce: str
    code_verifier: str
    workspace_url: str
    next_url: str | None

    @classmethod
    def start(cls, workspace_url: str, next_url: str | None) -> PendingSignIn:
        # 43+ characters of the unreserved set, as RFC 7636 §4.1 asks of a verifier.
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48),
                   workspace_url, next_url)


@dataclass(frozen=True)
class _Endpoints:
    issuer: str
    authorization: str
    token: str
    jwks: str


class EntraSignIn:
    """Builds the authorize URL and turns the returned code into the ID token's validated claims.

    `authority` is `https://login.microsoftonline.com/<tenant id>` (Settings checks it names one tenant and
    uses https off loopback); the tenant's OpenID configuration gives the endpoints and the issuer.
    """

    def __init__(self, *, authority: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.authority = authority.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._http = requests.Session()
        self._endpoints: _Endpoints | None = None
        self._keys: SigningKeys | None = None
        self._lock = threading.Lock()

    def authorization_url(self, pending: PendingSignIn) -> str:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            # `query`, not `form_post`: a cross-site POST back would arrive without the SameSite=Lax session
            # cookie, and the pending sign-in would be lost (codelibs/fess#3215).
            "response_mode": "query",
            "scope": SCOPES,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _s256(pending.code_verifier),
            "code_challenge_method": "S256",
        }
        return f"{self._discover().authorization}?{urlencode(query)}"

    def redeem(self, code: str, pending: PendingSignIn) -> dict[str, Any]:
        """The claims of the ID token the code is exchanged for, once every check has passed.

        Raises:
            Unauthenticated: Entra refused the code, or the ID token does not pass a check.
            ServiceUnavailable: Entra did not answer.
        """
        endpoints = self._discover()
        answer = self._post(endpoints.token, {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.code_verifier,
            "scope": SCOPES,
        })
        if "id_token" not in answer:
            codes = answer.get("error_codes") or [None]
            raise Unauthenticated(_CODE_REFUSALS.get(codes[0]) or (
                f"Microsoft Entra ID refused the sign-in ({_first_line(answer)}); sign in again."))
        return self.validate_id_token(str(answer["id_token"]), pending.nonce)

    def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims if it is the tenant's, for us, current, and answers this sign-in's nonce."""
        endpoints = self._discover()
        refused = Unauthenticated("Microsoft's answer to the sign-in could not be verified; sign in again.")
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError:
            raise refused from None
        assert self._keys is not None  # set by _discover
        try:
            claims = jwt.decode(
                id_token,
                key=self._keys.key_for(kid),
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=endpoints.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "oid", "nonce"]},
            )
        except (jwt.PyJWTError, Unauthenticated) as exc:
            raise Unauthenticated(f"{refused.message} ({_reason(exc)})") from None
        if not hmac.compare_digest(str(claims["nonce"]), nonce):
            raise Unauthenticated(f"{refused.message} (its nonce is not this sign-in's)")
        return dict(claims)

    def _discover(self) -> _Endpoints:
        """The tenant's endpoints from its OpenID configuration, read once (retried while it fails)."""
        with self._lock:
            if self._endpoints is None:
                document = self._get(f"{self.authority}/v2.0/.well-known/openid-configuration")
                try:
                    endpoints = _Endpoints(
                        issuer=str(document["issuer"]),
                        authorization=str(document["authorization_endpoint"]),
                        token=str(document["token_endpoint"]),
                        jwks=str(document["jwks_uri"]),
                    )
                except KeyError as exc:
                    raise ServiceUnavailable(f"The OpenID configuration of {self.authority} lacks {exc}") from None
                self._keys = SigningKeys(url=endpoints.jwks)
                self._endpoints = endpoints
            return self._endpoints

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
            return dict(response.json())
        except (requests.RequestException, ValueError):
            raise _unreachable() from None

    def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._http.post(url, data=form, timeout=TIMEOUT_SECONDS)
            answer = dict(response.json())
        except (requests.RequestException, ValueError):
            raise _unreachable() from None
        if response.status_code >= 500:
            raise _unreachable()
        return answer


def _s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _unreachable() -> ServiceUnavailable:
    return ServiceUnavailable("Microsoft Entra ID cannot be reached; try again later, or sign in with an API key.")


def _first_line(answer: dict[str, Any]) -> str:
    description = str(answer.get("error_description") or answer.get("error") or "no reason given")
    return description.splitlines()[0].split(" Trace ID:")[0]


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "it was issued to another application"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "it was issued by another tenant"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it is not valid yet"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it lacks the {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError | Unauthenticated):
        return "its signature is not the identity provider's"
    return "it is malformed"
