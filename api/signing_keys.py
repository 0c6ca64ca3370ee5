"""Entra ID signing keys: fetched from the JWKS endpoint, cached, and refetched at most once a minute.

Microsoft rotates keys without notice, so an unknown `kid` triggers a refetch; a storm of tokens with random
`kid`s must not turn into a storm of fetches, hence the cooldown. The last good key set is kept when a fetch
fails (https://learn.microsoft.com/entra/identity-platform/signing-key-rollover). PyJWT's `PyJWKClient` is
not used: before 2.15 a failed fetch wipes its cache and every unknown `kid` refetches (jpadilla/pyjwt#1162).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jwt

from shared.platform.errors import ServiceUnavailable, Unauthenticated

REFETCH_COOLDOWN_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 5.0


class SigningKeys:
    """`kid` → public key, from a JWKS URL (or a local file in development)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (url or file):
            raise ValueError("a JWKS URL or file is required")
        self._url = url
        self._file = file
        self._clock = clock
        self._keys: dict[str, object] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def key_for(self, kid: str | None) -> object:
        """The public key for `kid`.

        Raises:
            Unauthenticated: no key has this `kid` (after at most one refetch a minute).
            ServiceUnavailable: the key set cannot be fetched and no cached key matches.
        """
        if not kid:
            raise Unauthenticated("Invalid token: it names no signing key")
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("Invalid token: it is not signed by a key of the identity provider")
        return key

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_COOLDOWN_SECONDS

    def _refresh(self) -> None:
        self._fetched_at = self._clock()  # a failed fetch also starts the cooldown: an outage is not hammered
        self.fetch_count += 1
        try:
            document = self._read()
            keys = {
                jwk["kid"]: jwt.PyJWK(jwk).key
                for jwk in document.get("keys", [])
                if isinstance(jwk, dict) and jwk.get("kid") and jwk.get("kty") == "RSA"
            }
        except (OSError, ValueError, KeyError, jwt.PyJWTError):
            if not self._keys:
                raise ServiceUnavailable(
                    "The identity provider's signing keys cannot be fetched; retry later"
                ) from None
            return  # keep the last good set
        self._keys = keys

    def _read(self) -> dict:
        if self._file:
            return json.loads(Path(self._file).read_text())
        with urllib.request.urlopen(self._url or "", timeout=FETCH_TIMEOUT_SECONDS) as response:
            return json.loads(response.read(1_000_000))
