"""Run one sync job once: never overlapping itself, always leaving a `sync_jobs` row that says how it ended.

Overlap is prevented with a PostgreSQL session-level advisory lock per job type (`shared.platform.db.advisory_lock`,
held on a connection of its own for the whole run): a second instance does not wait, it skips this turn.
If a process dies, PostgreSQL drops its connection and with it the lock, so the next run that takes the lock
knows any RUNNING row of its type is an orphan and marks it INTERRUPTED.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.models.logs import Notification, SyncJob
from shared.models.sync_runtime import SyncRunRequest
from shared.platform import metrics
from shared.platform.db import advisory_lock
from shared.platform.logging import get_logger, mask_secrets
from shared.platform.status import NotificationType, SyncStatus, SyncType
from sync.jobs.base import Job, JobContext, JobResult, SyncInterrupted

log = get_logger(__name__)

ORPHAN_MESSAGE = "The sync service stopped during this run (process ended without recording an outcome)"


def advisory_lock_key(sync_type: str) -> int:
    """A stable signed 64-bit key per job type (Python's `hash()` differs between processes)."""
    digest = hashlib.sha256(f"sharepack-sync:{sync_type}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class RunOutcome:
    sync_job_id: Any
    status: SyncStatus


@dataclass
class SyncRunner:
    engine: Engine
    session_factory: sessionmaker[Session]
    operator_emails: tuple[str, ...] = ()

    def run(self, job: Job, context: JobContext, *, requested: bool = False) -> RunOutcome | None:
        """Run `job` once; None when another instance is running it right now."""
        with advisory_lock(self.engine, advisory_lock_key(job.sync_type)) as acquired:
            if not acquired:
                log.info("sync.skipped_running_elsewhere", sync_type=job.sync_type)
                return None
            return self._run_locked(job, context, requested=requested)

    def _run_locked(self, job: Job, context: JobContext, *, requested: bool) -> RunOutcome:
        sync_type = job.sync_type
        with self.session_factory.begin() as session:
            session.execute(
                update(SyncJob)
                .where(SyncJob.sync_type == sync_type, SyncJob.status == SyncStatus.RUNNING)
                .values(status=SyncStatus.INTERRUPTED, completed_at=func.now(), error_message=ORPHAN_MESSAGE)
            )
            session.execute(delete(SyncRunRequest).where(SyncRunRequest.sync_type == sync_type))
            row = SyncJob(
                sync_type=sync_type,
                status=SyncStatus.RUNNING,
                details={"trigger": "request" if requested else "schedule"},
                # The moment the run starts, not its transaction's (`now()`): runs order by it.
                started_at=func.clock_timestamp(),
            )
            session.add(row)
            session.flush()
            sync_job_id = row.sync_job_id
        log.info("sync.started", sync_type=sync_type, sync_job_id=str(sync_job_id))
        try:
            result = job.run(context)
        except SyncInterrupted as exc:
            self._finish(sync_job_id, SyncStatus.INTERRUPTED, exc.result, "Interrupted by shutdown")
            return RunOutcome(sync_job_id, SyncStatus.INTERRUPTED)
        except Exception as exc:  # any failure of the job is recorded on its run, never lost
            error = mask_secrets(f"{type(exc).__name__}: {exc}")
            log.exception("sync.failed", sync_type=sync_type, sync_job_id=str(sync_job_id))
            self._finish(sync_job_id, SyncStatus.FAILED, JobResult(), error)
            self._notify_operators(sync_type, sync_job_id, error)
            return RunOutcome(sync_job_id, SyncStatus.FAILED)
        self._finish(sync_job_id, SyncStatus.COMPLETED, result, None)
        return RunOutcome(sync_job_id, SyncStatus.COMPLETED)

    def _finish(self, sync_job_id: Any, status: SyncStatus, result: JobResult, error: str | None) -> None:
        with self.session_factory.begin() as session:
            details = session.scalar(select(SyncJob.details).where(SyncJob.sync_job_id == sync_job_id)) or {}
            session.execute(
                update(SyncJob)
                .where(SyncJob.sync_job_id == sync_job_id)
                .values(
                    status=status,
                    completed_at=func.now(),
                    records_processed=result.processed,
                    records_created=result.created,
                    records_updated=result.updated,
                    records_failed=result.failed,
                    error_message=error,
                    details={**details, **result.details},
                )
            )
            sync_type = session.scalar(select(SyncJob.sync_type).where(SyncJob.sync_job_id == sync_job_id))
        metrics.SYNC_RUNS.labels(sync_type=str(sync_type), result=str(status)).inc()
        log.info(
            "sync.finished",
            sync_job_id=str(sync_job_id),
            status=status,
            processed=result.processed,
            failed=result.failed,
        )

    def _notify_operators(self, sync_type: SyncType, sync_job_id: Any, error: str) -> None:
        if not self.operator_emails:
            return
        with self.session_factory.begin() as session:
            for email in self.operator_emails:
                session.add(
                    Notification(
                        notification_type=NotificationType.SYNC_FAILURE,
                        recipient_email=email,
                        subject=f"Sync job {sync_type} failed",
                        body=f"The {sync_type} sync run {sync_job_id} failed:\n{error}",
                        related_entity_type="sync_job",
                        related_entity_id=sync_job_id,
                    )
                )
