"""Who hears about a pack: one rule for the worker's outcome mails and the sync service's expiry mails."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.models import SharePack


def requestor_email(pack: SharePack) -> str | None:
    """Who hears how their pack ended: the pack's requestor (an administrator may upload on someone's behalf,
    and an automation principal's identity is no mailbox), else the authenticated uploader."""
    requestor = ((pack.config or {}).get("metadata") or {}).get("requestor")
    return requestor or pack.requested_by
