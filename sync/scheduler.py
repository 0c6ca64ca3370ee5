"""The sync service's loop: every tick, run each job that is due or that an operator asked for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.models.logs import SyncJob
from shared.models.sync_runtime import SyncRunRequest
from shared.platform.logging import get_logger
from shared.platform.status import SyncStatus, SyncType
from sync.jobs.base import Job, JobContext
from sync.runner import SyncRunner
from sync.schedule import Schedule

log = get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Scheduler:
    jobs: dict[SyncType, Job]
    schedules: dict[SyncType, Schedule]
    runner: SyncRunner
    session_factory: sessionmaker[Session]
    stop_requested: threading.Event
    tick_seconds: float = 1.0
    clock: Callable[[], datetime] = utc_now
    # Each job is due once at start-up (so a restarted service catches up), then on its schedule.
    _next_due: dict[SyncType, datetime] = field(default_factory=dict)

    def run_forever(self) -> None:
        while not self.stop_requested.is_set():
            try:
                self.tick()
            except Exception:  # the database is down, say: log, wait a tick, try again
                log.exception("sync.tick_failed")
            self.stop_requested.wait(self.tick_seconds)

    def tick(self) -> None:
        """Run every job that is due now or was asked for, one after another."""
        now = self.clock()
        requested = self._requested_types()
        for sync_type, job in self.jobs.items():
            if self.stop_requested.is_set():
                return
            due_at = self._next_due.setdefault(sync_type, now)
            asked = sync_type in requested
            if not asked and now < due_at:
                continue
            self.runner.run(job, JobContext(self.stop_requested), requested=asked)
            if now >= due_at:  # a run an operator asked for does not move the schedule
                self._next_due[sync_type] = self.schedules[sync_type].next_after(self.clock())
        for sync_type in requested - set(self.jobs):
            self._refuse_request(sync_type)

    def _requested_types(self) -> set[str]:
        with self.session_factory() as session:
            return set(session.scalars(select(SyncRunRequest.sync_type)))

    def _refuse_request(self, sync_type: str) -> None:
        """A type later issues will implement: record that this version cannot run it, and drop the ask."""
        with self.session_factory.begin() as session:
            session.execute(delete(SyncRunRequest).where(SyncRunRequest.sync_type == sync_type))
            session.add(
                SyncJob(
                    sync_type=sync_type,
                    status=SyncStatus.FAILED,
                    completed_at=utc_now(),
                    error_message=f"This version of the sync service has no {sync_type} job",
                    details={"trigger": "request"},
                )
            )
        log.warning("sync.request_refused", sync_type=sync_type)
