"""Who is calling: an API key or a Microsoft Entra ID access token, as `Authorization: Bearer <credential>`.

The caller's identity is what every stored version and audit row records as `created_by`.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jwt

from shared.errors import ServiceUnavailable, Unauthenticated
from shared.settings import Settings, hash_api_key

# A token's parts (its kid, say) are the caller's text: echo at most this much of a reason back.
_MAX_REASON_CHARS = 200


def _bounded(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON_CHARS else reason[:_MAX_REASON_CHARS] + "…"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    identity: str
    method: str  # "api_key" or "entra"


class Authenticator:
    """Checks bearer credentials against the configured API keys or Entra ID signing keys."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def authenticate(self, authorization: str | None) -> Caller:
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated("Missing credentials: send 'Authorization: Bearer <API key or token>'")
        credential = credential.strip()
        if self.settings.auth_mode == "entra":
            return self._entra(credential)
        return self._api_key(credential)

    def _api_key(self, credential: str) -> Caller:
        presented = hash_api_key(credential)
        for key in self.settings.api_keys:
            if hmac.compare_digest(presented, key.key_hash):
                return Caller(identity=key.name, method="api_key")
        raise Unauthenticated("Invalid credentials")

    def _entra(self, token: str) -> Caller:
        settings = self.settings
        issuer = settings.entra_issuer or f"https://login.microsoftonline.com/{settings.entra_tenant_id}/v2.0"
        try:
            header = jwt.get_unverified_header(token)
            key = self._signing_key(header.get("kid"))
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=settings.entra_audience,
                issuer=issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError:
            # Our dependency is down, not the caller's token wrong: a retry may succeed.
            raise ServiceUnavailable("The token signing keys cannot be fetched; retry later") from None
        except (jwt.PyJWTError, KeyError) as exc:
            raise Unauthenticated(f"Invalid token: {_bounded(str(exc))}") from None
        identity = (
            claims.get("preferred_username") or claims.get("upn") or claims.get("appid") or claims.get("oid")
        )
        if not identity:
            raise Unauthenticated("Invalid token: it names no user or application")
        return Caller(identity=str(identity), method="entra")

    def _signing_key(self, kid: object) -> object:
        if self.settings.entra_jwks_file:
            for jwk in self._local_key_set.get("keys", []):
                if jwk.get("kid") == kid:
                    return jwt.PyJWK(jwk).key
            raise KeyError(f"unknown signing key {kid!r}")
        return self._jwks_client.get_signing_key(kid).key

    @cached_property
    def _local_key_set(self) -> dict:
        return json.loads(Path(self.settings.entra_jwks_file or "").read_text())

    @cached_property
    def _jwks_client(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self.settings.entra_jwks_url or "", cache_keys=True, timeout=5)
