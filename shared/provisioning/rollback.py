"""How a rollback is stored in a pack's configuration, read by the API that writes it and the worker that runs it.

A rollback to configuration N stores N's pack (restored exactly) plus, under `ROLLBACK_KEY`, a DELETE pack of
what later configurations added that N did not have. Both sides of that format live here, apart from the
rollback use case (`shared.use_cases.lifecycle`), so the worker reads it without loading what the API needs
to plan and preview a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.share_pack_file.model import SharePackSpec

#: Where a rollback configuration keeps what it removes (a DELETE pack's canonical form).
ROLLBACK_KEY = "rollback"


def rollback_config(restore: SharePackSpec, remove: SharePackSpec, *, to_version: int) -> dict[str, Any]:
    """The configuration a rollback stores: the restored pack, and under `ROLLBACK_KEY` what it removes."""
    return {**restore.to_dict(), ROLLBACK_KEY: {"to_version": to_version, "remove": remove.to_dict()}}


def rollback_removals(config: Mapping[str, Any]) -> SharePackSpec | None:
    """Return the DELETE pack a rollback configuration carries, or None for any other configuration."""
    rollback = config.get(ROLLBACK_KEY)
    return SharePackSpec.from_dict(rollback["remove"]) if rollback else None
