"""API keys as this service keeps them: scrypt with a salt of its own per key, never the key itself.

An unsalted hash makes equal keys equal hashes across deployments and lets a leaked settings file be checked
against a table of guesses at the speed of SHA-256; scrypt with a per-key salt
(https://www.rfc-editor.org/rfc/rfc7914) makes each guess cost memory and time, one key at a time. Keys are
at least `MIN_KEY_CHARS` characters (a random key of that length is out of reach of guessing at any speed),
so the cost parameters are modest: one check costs a few milliseconds, not the hundreds a password would
deserve. A credential once verified against a stored form is remembered by the process (`VerifiedKeys`), so
a client's requests after its first cost a keyed hash and a dictionary lookup, not a key derivation.

The stored form is `scrypt:<salt hex>:<digest hex>`; `python -m shared.platform.api_keys` prints it for a key read
from standard input, for settings kept in a vault.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
import threading

MIN_KEY_CHARS = 32
# Longer than any key anyone types or generates; a longer credential is refused before it is hashed.
MAX_KEY_CHARS = 512
SCHEME = "scrypt"
# scrypt cost: N=2**12, r=8 (4 MB of memory per check), p=1; a 16-byte salt and a 32-byte digest.
_N, _R, _P = 2**12, 8, 1
_SALT_BYTES = 16
_DIGEST_BYTES = 32
STORED_FORM = re.compile(rf"{SCHEME}:[0-9a-f]{{{2 * _SALT_BYTES}}}:[0-9a-f]{{{2 * _DIGEST_BYTES}}}")


def hash_api_key(secret: str, salt: bytes | None = None) -> str:
    """Return the stored form of an API key, with a new random salt unless one is given."""
    salt = salt if salt is not None else os.urandom(_SALT_BYTES)
    return f"{SCHEME}:{salt.hex()}:{_derive(secret, salt).hex()}"


def matches(secret: str, stored: str) -> bool:
    """True if `secret` is the key whose stored form is `stored` (compared in constant time)."""
    if not MIN_KEY_CHARS <= len(secret) <= MAX_KEY_CHARS:
        return False
    if verified_before(secret, stored):
        return True
    _, salt, digest = stored.split(":")
    if not hmac.compare_digest(_derive(secret, bytes.fromhex(salt)), bytes.fromhex(digest)):
        return False
    _VERIFIED.remember(secret, stored)
    return True


def verified_before(secret: str, stored: str) -> bool:
    """True if this process has already found that `secret` matches `stored` (no key derivation)."""
    return _VERIFIED.has(secret, stored)


def _derive(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8", "surrogatepass"), salt=salt, n=_N, r=_R, p=_P,
                          dklen=_DIGEST_BYTES)


class VerifiedKeys:
    """Pairs of a credential and a stored form that matched, each kept as a keyed hash of both (never the
    credential itself). Only matches are kept: a wrong guess adds nothing. Bounded: when full it starts again,
    and the next request of each client costs one key derivation again.

    The pair, not the credential alone, is the key: whether a credential matches a stored form never changes,
    whereas which key a credential names depends on the settings that list the stored forms."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._pepper = os.urandom(32)
        self._pairs: set[bytes] = set()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def has(self, credential: str, stored: str) -> bool:
        return self._digest(credential, stored) in self._pairs

    def remember(self, credential: str, stored: str) -> None:
        with self._lock:
            if len(self._pairs) >= self._max_entries:
                self._pairs.clear()
            self._pairs.add(self._digest(credential, stored))

    def _digest(self, credential: str, stored: str) -> bytes:
        message = stored.encode() + b"\0" + credential.encode("utf-8", "surrogatepass")
        return hmac.digest(self._pepper, message, "sha256")


#: One per process: every app the process builds (one in a gunicorn worker, hundreds in the suite) shares it.
_VERIFIED = VerifiedKeys()


def main() -> int:
    """Print the stored form of the key on standard input (one line)."""
    secret = sys.stdin.readline().strip()
    if len(secret) < MIN_KEY_CHARS:
        print(f"An API key must be at least {MIN_KEY_CHARS} characters; generate one with "
              "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.", file=sys.stderr)
        return 2
    print(hash_api_key(secret))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
