"""Opaque, signed tokens: access tokens, ``$skiptoken`` and ``$deltatoken`` values.

Graph's tokens are opaque to clients, who must follow links verbatim. Signing them (HMAC with the
directory's persisted secret) makes a tampered or hand-built token fail as it would against Graph, and
lets tokens issued before a restart stay valid after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class BadToken(ValueError):
    """The token was not issued by this emulator, or was altered."""


def sign(payload: dict[str, Any], secret: str) -> str:
    """Encode and sign ``payload`` as a URL-safe token."""
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{body}.{_mac(body, secret)}"


def verify(token: str, secret: str) -> dict[str, Any]:
    """Return the payload of a token this emulator signed; BadToken otherwise."""
    body, _, mac = token.partition(".")
    if not body or not hmac.compare_digest(mac, _mac(body, secret)):
        raise BadToken("token signature does not match")
    try:
        return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
    except ValueError as exc:
        raise BadToken("token is not valid JSON") from exc


def _mac(body: str, secret: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
