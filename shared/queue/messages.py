"""The messages the API sends to the worker: small, versioned envelopes that carry ids, never file bodies.

A message is a pointer (`share_pack_id` + `version`): the worker reads everything else from the database,
so a duplicate or late message is harmless. Anything that is not a well-formed envelope of a type this code
knows raises `UnreadableMessage`; retrying cannot help, so the worker moves it to the poison queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from shared.errors import InvalidInput


class UnreadableMessage(InvalidInput):
    """The queue message is not an envelope this code understands (bad JSON, unknown type or version)."""


@dataclass(frozen=True)
class ProvisionSharePack:
    """Ask the worker to make the workspace match version `version` of share pack `share_pack_id`."""

    share_pack_id: UUID
    version: int
    request_id: str | None = None

    TYPE: ClassVar[str] = "provision_share_pack"
    ENVELOPE_VERSION: ClassVar[int] = 1

    def to_envelope(self) -> dict[str, Any]:
        """Return the envelope as a JSON-ready dict (the outbox stores this in its JSONB `payload`)."""
        return {
            "v": self.ENVELOPE_VERSION,
            "type": self.TYPE,
            "share_pack_id": str(self.share_pack_id),
            "version": self.version,
            "request_id": self.request_id,
        }

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
        version = data.get("version")
        # bool is an int subclass: refuse `true` explicitly.
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise UnreadableMessage("Message has no valid version (a whole number from 1)")
        request_id = data.get("request_id")
        if request_id is not None and not isinstance(request_id, str):
            raise UnreadableMessage("Message request_id must be a string or null")
        return cls(share_pack_id=share_pack_id, version=version, request_id=request_id)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ProvisionSharePack:
        """Read a queue message body; raise `UnreadableMessage` for anything else."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UnreadableMessage("Message is not valid JSON") from None
        return cls.from_envelope(data)
