"""The log of API requests the emulator served, for tests that assert on the calls a client made.

Entries never hold credentials: the ``Authorization`` value and Azure management token are redacted,
and form bodies (the AAD token request carries a client secret) are not recorded.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

MAX_ENTRIES = 200_000
REDACTED_HEADERS = frozenset({"authorization", "x-databricks-azure-sp-management-token", "cookie"})
RECORDED_HEADERS = frozenset(
    {
        "authorization",
        "x-databricks-azure-sp-management-token",
        "x-databricks-azure-workspace-resource-id",
        "x-databricks-workspace-id",
        "user-agent",
        "content-type",
    }
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers worth asserting on, with secret values replaced by ``<redacted>``."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in RECORDED_HEADERS:
            kept[lowered] = "<redacted>" if lowered in REDACTED_HEADERS else value
    return kept


class RequestLog:
    """A bounded, thread-safe list of request records (oldest dropped first)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._ids = itertools.count(1)

    def record(self, entry: dict[str, Any]) -> None:
        """Append one finished request."""
        with self._lock:
            self._entries.append({"id": next(self._ids), **entry})

    def entries(self, *, method: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        """Return the recorded requests in arrival order, optionally filtered."""
        with self._lock:
            entries = list(self._entries)
        if method:
            entries = [e for e in entries if e["method"] == method.upper()]
        if path_contains:
            entries = [e for e in entries if path_contains in e["path"]]
        return entries

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
