"""The sync service's composition root: every dependency is built here, from settings, and nowhere else."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from shared.platform.db import database_url, make_engine, make_session_factory
from shared.platform.settings import Settings
from sync.jobs import SCHEDULE_SETTING, JobParts, build_jobs
from sync.runner import SyncRunner
from sync.schedule import Schedule
from sync.scheduler import Scheduler


@dataclass
class SyncService:
    settings: Settings
    scheduler: Scheduler
    stop_requested: threading.Event


def build_sync_service(settings: Settings | None = None) -> SyncService:
    """Build the sync service from settings (default: the environment)."""
    settings = settings or Settings.from_env()
    engine = make_engine(database_url(settings), pool_size=2, application_name="sharepack-sync")
    session_factory = make_session_factory(engine)
    jobs = build_jobs(JobParts(settings=settings, session_factory=session_factory))
    stop = threading.Event()
    scheduler = Scheduler(
        jobs=jobs,
        schedules={t: Schedule(getattr(settings, SCHEDULE_SETTING[t])) for t in jobs},
        runner=SyncRunner(engine, session_factory, operator_emails=settings.operator_emails),
        session_factory=session_factory,
        stop_requested=stop,
        tick_seconds=settings.sync_tick_seconds,
    )
    return SyncService(settings=settings, scheduler=scheduler, stop_requested=stop)
