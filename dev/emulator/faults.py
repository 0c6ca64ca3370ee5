"""Fault injection: make the next N matching requests fail the way a real workspace sometimes does.

Throttling (429 + ``Retry-After``), 503s, a 500 "Unexpected error" the SDK retries, a 403 the worker must
report: each is a :class:`Fault` matched on method and a path regex. A fault in the ``after`` phase lets
the request take effect and only then fails the reply, which is how a lost response looks to a client
(the change happened, the caller does not know) — the case resumable provisioning must survive.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dev.emulator.errors import invalid_parameter

FaultPhase = Literal["before", "after"]


@dataclass
class Fault:
    """One injected failure; ``times=None`` keeps failing until the faults are cleared."""

    path_regex: str
    status: int
    method: str | None = None
    error_code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    times: int | None = 1
    phase: FaultPhase = "before"
    id: int = 0
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)

    def matches(self, method: str, path: str, phase: FaultPhase) -> bool:
        """Return whether this fault applies to a request in ``phase``."""
        if self.phase != phase or (self.times is not None and self.hits >= self.times):
            return False
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        return self._pattern.search(path) is not None

    def describe(self) -> dict[str, Any]:
        """Return the fault as JSON-ready data, including how often it fired."""
        return {
            "id": self.id,
            "method": self.method,
            "path_regex": self.path_regex,
            "status": self.status,
            "error_code": self.error_code,
            "message": self.message,
            "retry_after": self.retry_after,
            "times": self.times,
            "phase": self.phase,
            "hits": self.hits,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Fault:
        """Build a fault from the ``POST /__emulator/faults`` body, rejecting nonsense early."""
        try:
            status = int(payload["status"])
            path_regex = str(payload.get("path_regex") or ".*")
            re.compile(path_regex)
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise invalid_parameter(f"Invalid fault: {exc}") from exc
        if not 100 <= status <= 599:
            raise invalid_parameter(f"Invalid fault status {status}")
        phase = payload.get("phase", "before")
        if phase not in ("before", "after"):
            raise invalid_parameter(f"Invalid fault phase {phase!r}")
        times = payload.get("times", 1)
        retry_after = payload.get("retry_after")
        return cls(
            path_regex=path_regex,
            status=status,
            method=payload.get("method"),
            error_code=payload.get("error_code"),
            message=payload.get("message"),
            retry_after=int(retry_after) if retry_after is not None else None,
            times=int(times) if times is not None else None,
            phase=phase,
        )


class FaultInjector:
    """Thread-safe registry of faults; the first active match wins and is consumed once per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        """Register a fault and return it with its id."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str, phase: FaultPhase) -> Fault | None:
        """Return (and count) the fault for this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, phase):
                    fault.hits += 1
                    return fault
            return None

    def describe(self) -> list[dict[str, Any]]:
        """Return every registered fault (spent ones too, so tests can read ``hits``)."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()
