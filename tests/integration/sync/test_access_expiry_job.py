"""The ACCESS_EXPIRY job as the sync service builds it (`sync.jobs.JOBS`): scheduled from its setting, run by the
runner, its run recorded with what it did."""

from __future__ import annotations

import threading

from sqlalchemy import select

from shared.models import SyncJob
from shared.platform.settings import Settings
from shared.platform.status import SyncType
from sync.jobs import JOBS, SCHEDULE_SETTING, JobParts
from sync.jobs.base import JobContext
from sync.runner import SyncRunner


def test_the_registered_job_runs_and_records_its_counts(engine, session_factory, session):
    settings = Settings(sync_schedule_access_expiry="*/5 * * * *")
    job = JOBS[SyncType.ACCESS_EXPIRY](JobParts(settings=settings, session_factory=session_factory))
    assert getattr(settings, SCHEDULE_SETTING[SyncType.ACCESS_EXPIRY]) == "*/5 * * * *"

    outcome = SyncRunner(engine, session_factory).run(job, JobContext(threading.Event()))

    run = session.scalars(select(SyncJob).where(SyncJob.sync_job_id == outcome.sync_job_id)).one()
    assert (run.sync_type, run.status) == ("ACCESS_EXPIRY", "COMPLETED")
    assert run.details == {"trigger": "schedule", "reminders": 0, "revoked": 0, "deferred": 0, "failures": []}
