"""Idempotency keys: a request sent again with the same `Idempotency-Key` gets its first answer again.

A client whose upload timed out cannot know whether the share pack was made; sending it again must not
make a second one. Following the IETF's Idempotency-Key header draft
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/):

* the key is the caller's (it is stored hashed with the caller, workspace and operation, so two callers'
  keys never meet);
* the same key with the same request answers what the first request answered (stored when it succeeded;
  a refused request stores nothing, so the fixed request may use the key again);
* the same key with a different request is refused (409), as is a key whose first request is still being
  answered (409: retry later);
* keys are kept `RETENTION` (24 hours): an expired key is ignored by the lookup and pruned by the sweeper.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.models.runtime import IdempotencyKeyRow
from shared.platform.errors import Conflict, InvalidInput

RETENTION = timedelta(hours=24)
# Visible ASCII, as a client library's UUID or random token is; bounded so the header cannot be a payload.
KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # the same rule, for the OpenAPI document


@dataclass(frozen=True)
class Answer:
    """What the first request with a key was answered."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Scope:
    """Whose key it is and for what: two scopes never share a key."""

    caller: str
    workspace_url: str
    operation: str


def check_key(key: str) -> str:
    """The key if it is well-formed, else `InvalidInput` (400)."""
    if not KEY_FORMAT.fullmatch(key):
        raise InvalidInput("Idempotency-Key must be 1 to 255 visible ASCII characters (e.g. a UUID).")
    return key


def fingerprint(*parts: bytes | str) -> str:
    """A SHA-256 of the request's parts, each length-prefixed so no two requests' parts run together."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def answer_once(
    session_factory: sessionmaker[Session],
    scope: Scope,
    key: str,
    request_hash: str,
    answer: Callable[[], Answer],
) -> tuple[Answer, bool]:
    """Answer the request once per key: `(answer, replayed)`.

    Raises:
        InvalidInput: a malformed key.
        Conflict: the key was used for a different request, or its first request is still being answered.
        Whatever `answer` raises (the key is then released: nothing was made).
    """
    key_hash = fingerprint(scope.caller, scope.workspace_url, scope.operation, check_key(key))
    with session_factory.begin() as session:
        session.execute(delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.key_hash == key_hash, IdempotencyKeyRow.created_at < func.now() - RETENTION))
        claimed = session.execute(
            insert(IdempotencyKeyRow).values(key_hash=key_hash, request_hash=request_hash)
            .on_conflict_do_nothing(index_elements=[IdempotencyKeyRow.key_hash])
            .returning(IdempotencyKeyRow.key_hash)
        ).first()
        if claimed is None:
            first = session.scalars(select(IdempotencyKeyRow).where(IdempotencyKeyRow.key_hash == key_hash)).one()
            if first.request_hash != request_hash:
                raise Conflict("This Idempotency-Key was already used with a different request; use a new key "
                               "for a new request.")
            if first.status_code is None or first.response_body is None:
                raise Conflict("The first request with this Idempotency-Key is still being answered; retry later.")
            return Answer(first.status_code, dict(first.response_body)), True
    try:
        result = answer()
    except BaseException:
        with session_factory.begin() as session:
            session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.key_hash == key_hash))
        raise
    with session_factory.begin() as session:
        row = session.get(IdempotencyKeyRow, key_hash)
        if row is not None:
            row.status_code, row.response_body = result.status_code, result.body
    return result, False


def prune_expired(session: Session) -> int:
    """Delete the keys past their retention; return how many."""
    return session.execute(
        delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < func.now() - RETENTION)
    ).rowcount
