"""What a sync job is: one small class with a `sync_type` and a `run(context)` that returns its counts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.platform.status import SyncType


@dataclass
class JobResult:
    """The counts and details a run records in `sync_jobs`."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class SyncInterrupted(Exception):
    """The service is stopping; the job stopped between two records (the run is recorded INTERRUPTED)."""

    def __init__(self, result: JobResult | None = None) -> None:
        super().__init__("interrupted by shutdown")
        self.result = result or JobResult()


@dataclass(frozen=True)
class JobContext:
    """Handed to each run: lets a job notice shutdown between records."""

    stop_requested: threading.Event

    def should_stop(self) -> bool:
        return self.stop_requested.is_set()

    def check_stop(self) -> None:
        """Raise `SyncInterrupted` if shutdown was requested."""
        if self.should_stop():
            raise SyncInterrupted


class Job(Protocol):
    sync_type: SyncType

    def run(self, context: JobContext) -> JobResult: ...
