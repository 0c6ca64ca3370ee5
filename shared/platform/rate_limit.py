"""Rate limits with lockout, kept in this process's memory.

Each API process counts on its own (gunicorn workers and replicas do not share counts), so the effective
limit is the configured one times the number of processes: enough to stop guessing keys or passwords at
machine speed and to keep one client from taking every worker, which is what these limits are for. A limit
that must hold exactly across processes needs a shared store (PostgreSQL or Redis), which these calls would
then consult instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    count: int = 0
    locked_until: float = 0.0


class RateLimiter:
    """At most `limit` events per `window_seconds` per key; the event past it locks the key out for
    `lockout_seconds` (by default, the rest of the window). Memory is bounded by `max_keys`."""

    def __init__(self, limit: int, window_seconds: float, *, lockout_seconds: float | None = None,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.lockout_seconds = lockout_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again if it is locked out now, else None (records nothing)."""
        with self._lock:
            window = self._windows.get(key)
            return self._locked(window, self._clock()) if window else None

    def hit(self, key: str) -> int | None:
        """Record one event of `key`; return the seconds it must wait if it is (now) over its limit."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and (wait := self._locked(window, now)) is not None:
                return wait
            if window is None or now - window.started >= self.window_seconds:
                self._make_room(now)
                window = self._windows[key] = _Window(started=now)
            window.count += 1
            if window.count <= self.limit:
                return None
            lockout = self.lockout_seconds
            window.locked_until = now + (lockout if lockout is not None else window.started + self.window_seconds
                                         - now)
            return self._locked(window, now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    @staticmethod
    def _locked(window: _Window, now: float) -> int | None:
        return max(1, math.ceil(window.locked_until - now)) if window.locked_until > now else None

    def _make_room(self, now: float) -> None:
        if len(self._windows) < self._max_keys:
            return
        horizon = self.window_seconds + (self.lockout_seconds or 0)
        for key in [k for k, w in self._windows.items() if now - w.started >= horizon and w.locked_until <= now]:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:  # all recent: forget the oldest half rather than grow
            for key in list(self._windows)[: self._max_keys // 2]:
                del self._windows[key]
