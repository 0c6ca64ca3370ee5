"""The messages the API sends to the worker: small, versioned envelopes that carry ids, never file bodies.

A message is a pointer (`share_pack_id`): the worker reads the pack's current version and everything else
from the database, so a duplicate or late message is harmless. Envelopes written before the pointer lost
its `version` still read (the key is ignored); a worker older than this reader refuses envelopes without
it, so workers are upgraded before the processes that write messages. Anything that is not a well-formed
envelope of a type this code knows raises `UnreadableMessage`; retrying cannot help, so the worker moves it
to the poison queue.

A message also carries its pack's transient-failure record (`transient_attempts`, `first_transient_failure_at`):
after a transient failure the worker sends a successor message with the record updated and deletes the
current one, so waiting out an outage never spends the queue's dequeue count (the crash budget). Both
fields are optional in the envelope, so messages written before they existed still read; so is `traceparent`
(the W3C trace context of the request that sent it, https://www.w3.org/TR/trace-context/).
"""

from __future__ import annotations

import json
from dataclasses import KW_ONLY, dataclass, replace
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from shared.platform.errors import InvalidInput


class UnreadableMessage(InvalidInput):
    """The queue message is not an envelope this code understands (bad JSON, unknown type or version)."""


@dataclass(frozen=True)
class ProvisionSharePack:
    """Ask the worker to make the workspace match the current version of share pack `share_pack_id`."""

    share_pack_id: UUID
    _: KW_ONLY
    request_id: str | None = None
    # The W3C trace context of the request that asked for this run, so the worker's spans join its trace.
    traceparent: str | None = None
    transient_attempts: int = 0
    first_transient_failure_at: datetime | None = None

    TYPE: ClassVar[str] = "provision_share_pack"
    ENVELOPE_VERSION: ClassVar[int] = 1

    def to_envelope(self) -> dict[str, Any]:
        """Return the envelope as a JSON-ready dict (the outbox stores this in its JSONB `payload`)."""
        envelope: dict[str, Any] = {
            "v": self.ENVELOPE_VERSION,
            "type": self.TYPE,
            "share_pack_id": str(self.share_pack_id),
            "request_id": self.request_id,
        }
        if self.traceparent:
            envelope["traceparent"] = self.traceparent
        if self.transient_attempts:
            envelope["transient_attempts"] = self.transient_attempts
        if self.first_transient_failure_at is not None:
            envelope["first_transient_failure_at"] = self.first_transient_failure_at.isoformat()
        return envelope

    def after_transient_failure(self, now: datetime) -> ProvisionSharePack:
        """The successor of this message after one more transient failure at `now`."""
        return replace(
            self,
            transient_attempts=self.transient_attempts + 1,
            first_transient_failure_at=self.first_transient_failure_at or now,
        )

    def to_json(self) -> str:
        """Return the queue message body."""
        return json.dumps(self.to_envelope(), separators=(",", ":"))

    @classmethod
    def from_envelope(cls, data: Any) -> ProvisionSharePack:
        """Read an envelope dict; raise `UnreadableMessage` for anything but a valid version-1 envelope."""
        if not isinstance(data, dict):
            raise UnreadableMessage("Message is not a JSON object")
        if data.get("v") != cls.ENVELOPE_VERSION or data.get("type") != cls.TYPE:
            raise UnreadableMessage(
                f"Unknown message type {data.get('type')!r} with envelope version {data.get('v')!r}"
            )
        try:
            share_pack_id = UUID(data["share_pack_id"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UnreadableMessage("Message has no valid share_pack_id") from None
        request_id = data.get("request_id")
        if request_id is not None and not isinstance(request_id, str):
            raise UnreadableMessage("Message request_id must be a string or null")
        attempts = data.get("transient_attempts", 0)
        # bool is an int subclass: refuse `true` explicitly.
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise UnreadableMessage("Message transient_attempts must be a whole number from 0")
        traceparent = data.get("traceparent")
        return cls(
            share_pack_id=share_pack_id,
            request_id=request_id,
            # Only a trace link: a malformed one starts a new trace rather than losing the message to poison.
            traceparent=traceparent if isinstance(traceparent, str) else None,
            transient_attempts=attempts,
            first_transient_failure_at=_read_moment(data.get("first_transient_failure_at")),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> ProvisionSharePack:
        """Read a queue message body; raise `UnreadableMessage` for anything else."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UnreadableMessage("Message is not valid JSON") from None
        return cls.from_envelope(data)


def _read_moment(value: Any) -> datetime | None:
    """An ISO 8601 moment with its offset (naive moments are refused: workers may run in any zone)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise UnreadableMessage("Message first_transient_failure_at must be an ISO 8601 moment") from None
    if moment.tzinfo is None:
        raise UnreadableMessage("Message first_transient_failure_at must carry a UTC offset")
    return moment
