"""Who is calling: an API key or a Microsoft Entra ID access token, as `Authorization: Bearer <credential>`.

The result is a `Principal` (shared.access.principals): its identity is what every stored version and audit
row records as `created_by`. Entra tokens are validated as Microsoft documents
(https://learn.microsoft.com/entra/identity-platform/claims-validation): signature, v1 or v2 issuer of the
configured tenant, audience, `tid`, 60 s of clock skew, and a required app role or scope.
"""

from __future__ import annotations

import jwt

from api.signing_keys import SigningKeys
from shared.access.overage import OverageGroups
from shared.access.principals import Principal, principal_from_entra_claims
from shared.graph.config import graph_client_from_settings
from shared.platform import api_keys
from shared.platform.errors import Forbidden, TooManyRequests, Unauthenticated
from shared.platform.rate_limit import RateLimiter
from shared.platform.settings import Settings

CLOCK_SKEW_SECONDS = 60


class Authenticator:
    """Checks bearer credentials against the configured API keys or Entra ID signing keys."""

    def __init__(
        self,
        settings: Settings,
        *,
        signing_keys: SigningKeys | None = None,
        overage_groups: OverageGroups | None = None,
    ) -> None:
        self.settings = settings
        self._signing_keys = signing_keys
        # Shared with the console's Entra sign-in: one cache of overage groups per process.
        self.overage_groups = overage_groups or OverageGroups(
            graph_client_from_settings(settings), budget_seconds=settings.graph_validation_budget_seconds
        )
        if settings.auth_mode == "entra" and signing_keys is None:
            self._signing_keys = SigningKeys(url=settings.entra_jwks_url, file=settings.entra_jwks_file)
        # Guessing: a client address that fails too often is locked out (also what bounds the key derivations
        # an unknown credential costs). Volume: each API key has its own budget per minute.
        self.failures = RateLimiter(settings.failed_sign_ins_allowed, settings.sign_in_lockout_seconds,
                                    lockout_seconds=settings.sign_in_lockout_seconds)
        self._per_key = RateLimiter(settings.api_key_requests_per_minute, 60)

    def authenticate(self, authorization: str | None, *, client: str | None = None) -> Principal:
        """The caller behind `authorization`; `client` (the peer address) is what failed attempts count against.

        Raises:
            Unauthenticated: no credential, or one this deployment does not accept.
            TooManyRequests: `client` failed too often lately, or the API key went past its rate limit.
        """
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated("Missing credentials: send 'Authorization: Bearer <API key or token>'")
        credential = credential.strip()
        if self.settings.auth_mode == "entra":
            return self._entra(credential)
        return self._api_key(credential, client or "unknown")

    def _api_key(self, credential: str, client: str) -> Principal:
        keys = self.settings.api_keys
        # A credential this process has verified is known without a derivation (or a look at the lockout).
        name = next((key.name for key in keys if api_keys.verified_before(credential, key.key_hash)), None)
        if name is None:
            self._refuse_if_locked_out(client)
            name = next((key.name for key in keys if api_keys.matches(credential, key.key_hash)), None)
            if name is None:
                wait = self.failures.hit(client)
                if wait is not None:
                    raise TooManyRequests(f"Too many failed sign-ins from this address; try again in {wait} s.",
                                          retry_after=wait)
                raise Unauthenticated("Invalid credentials")
        wait = self._per_key.hit(name)
        if wait is not None:
            raise TooManyRequests(f"This API key sent more than {self._per_key.limit} requests in a minute; "
                                  f"try again in {wait} s.", retry_after=wait)
        return Principal.from_api_key(name, admins=self.settings.admin_principals)

    def _refuse_if_locked_out(self, client: str) -> None:
        wait = self.failures.retry_after(client)
        if wait is not None:
            raise TooManyRequests(f"Too many failed sign-ins from this address; try again in {wait} s.",
                                  retry_after=wait)

    def _entra(self, token: str) -> Principal:
        settings = self.settings
        tenant = settings.entra_tenant_id or ""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid token: it is not a JWT") from None
        if self._signing_keys is None:
            raise Unauthenticated("Invalid credentials: this deployment accepts API keys")
        key = self._signing_keys.key_for(header.get("kid"))
        issuers = [f"https://sts.windows.net/{tenant}/", f"https://login.microsoftonline.com/{tenant}/v2.0"]
        if settings.entra_issuer:
            issuers.append(settings.entra_issuer)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=[a.strip() for a in (settings.entra_audience or "").split(",") if a.strip()],
                issuer=issuers,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "tid", "oid"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Invalid token: it has expired") from None
        except jwt.PyJWTError:
            # PyJWT's messages name claims and library details; the caller learns only what to fix.
            raise Unauthenticated(
                "Invalid token: its signature, issuer, audience or required claims are not accepted"
            ) from None
        if str(claims["tid"]).lower() != tenant.lower():
            raise Unauthenticated("Invalid token: it was issued for another Entra tenant")
        roles = frozenset(r for r in claims.get("roles") or [] if isinstance(r, str))
        scopes = frozenset(str(claims.get("scp") or "").split())
        self._require_role_or_scope(roles, scopes)
        return principal_from_entra_claims(
            claims, admins=settings.admin_principals, overage_groups=self.overage_groups.groups_of
        )

    def _require_role_or_scope(self, roles: frozenset[str], scopes: frozenset[str]) -> None:
        wanted_roles = set(self.settings.entra_required_roles)
        wanted_scopes = set(self.settings.entra_required_scopes)
        if not (wanted_roles or wanted_scopes):
            if roles or scopes:
                return
        elif roles & wanted_roles or scopes & wanted_scopes:
            return
        wanted = sorted(wanted_roles | wanted_scopes)
        raise Forbidden(
            "The token carries none of the app roles or scopes this API requires"
            + (f" ({', '.join(wanted)})" if wanted else "")
        )
