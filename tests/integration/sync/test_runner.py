"""Sync runs: each one a sync_jobs row with its outcome, never two of a type at once, and requests honoured."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from shared.models import Notification, SyncJob, SyncRunRequest
from shared.platform.status import NotificationType, SyncStatus, SyncType
from sync.jobs.base import JobContext, JobResult, SyncInterrupted
from sync.jobs.notifications import NotificationsJob
from sync.runner import ORPHAN_MESSAGE, SyncRunner, advisory_lock_key
from sync.schedule import Schedule
from sync.scheduler import Scheduler


@dataclass
class CountingJob:
    """A job that reports fixed counts, or raises what it is told to."""

    sync_type: SyncType = SyncType.NOTIFICATIONS
    error: BaseException | None = None
    runs: list[datetime] = field(default_factory=list)

    def run(self, context: JobContext) -> JobResult:
        self.runs.append(datetime.now(UTC))
        context.check_stop()
        if self.error:
            raise self.error
        return JobResult(processed=5, created=1, updated=3, failed=1, details={"note": "counted"})


@pytest.fixture
def runner(engine, session_factory) -> SyncRunner:
    return SyncRunner(engine, session_factory, operator_emails=("ops@example.com",))


def _runs(session) -> list[SyncJob]:
    session.expire_all()
    return list(session.scalars(select(SyncJob).order_by(SyncJob.started_at)))


def test_a_run_is_recorded_with_its_counts(runner, session):
    outcome = runner.run(CountingJob(), JobContext(threading.Event()))

    [run] = _runs(session)
    assert outcome.status == SyncStatus.COMPLETED and run.sync_job_id == outcome.sync_job_id
    assert (run.sync_type, run.status) == ("NOTIFICATIONS", "COMPLETED")
    assert (run.records_processed, run.records_created, run.records_updated, run.records_failed) == (5, 1, 3, 1)
    assert run.details == {"trigger": "schedule", "note": "counted"}
    assert run.completed_at is not None and run.error_message is None


def test_a_failing_job_is_recorded_failed_and_operators_are_told(runner, session):
    runner.run(CountingJob(error=RuntimeError("directory unreachable")), JobContext(threading.Event()))

    [run] = _runs(session)
    assert run.status == "FAILED" and run.error_message == "RuntimeError: directory unreachable"
    [notice] = session.scalars(select(Notification)).all()
    assert notice.notification_type == NotificationType.SYNC_FAILURE
    assert notice.recipient_email == "ops@example.com"
    assert "directory unreachable" in notice.body


def test_a_stop_request_records_the_run_interrupted(runner, session):
    stop = threading.Event()
    stop.set()
    outcome = runner.run(CountingJob(), JobContext(stop))

    [run] = _runs(session)
    assert outcome.status == run.status == "INTERRUPTED"
    assert run.error_message == "Interrupted by shutdown"


def test_a_run_held_elsewhere_is_skipped_without_a_record(runner, engine, session):
    key = {"k": advisory_lock_key("NOTIFICATIONS")}
    with engine.connect() as other_instance:
        other_instance.execute(text("SELECT pg_advisory_lock(:k)"), key)
        job = CountingJob()
        assert runner.run(job, JobContext(threading.Event())) is None
        assert job.runs == [] and _runs(session) == []
        other_instance.execute(text("SELECT pg_advisory_unlock(:k)"), key)
    assert runner.run(CountingJob(), JobContext(threading.Event())).status == SyncStatus.COMPLETED


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(runner, session_factory, session):
    with session_factory.begin() as s:
        s.add(SyncJob(sync_type="NOTIFICATIONS", status="RUNNING"))

    runner.run(CountingJob(), JobContext(threading.Event()))

    statuses = [(r.status, r.error_message) for r in _runs(session)]
    assert statuses == [("INTERRUPTED", ORPHAN_MESSAGE), ("COMPLETED", None)]


def test_the_notifications_job_reports_what_it_sent(runner, make_deliverer, add_notification, smtp_server, session):
    add_notification()
    add_notification(recipient_email=None)

    runner.run(NotificationsJob(make_deliverer()), JobContext(threading.Event()))

    [run] = _runs(session)
    assert (run.status, run.records_processed, run.records_updated, run.records_failed) == ("COMPLETED", 2, 1, 1)
    assert run.details["sent"] == 1 and run.details["failed"] == 1
    assert "no recipient e-mail address" in run.details["failures"][0]
    assert len(smtp_server.mailbox.wait_for(1)) == 1


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _scheduler(runner, session_factory, job, clock, schedule="*/5 * * * *") -> Scheduler:
    return Scheduler(
        jobs={SyncType.NOTIFICATIONS: job},
        schedules={SyncType.NOTIFICATIONS: Schedule(schedule)},
        runner=runner,
        session_factory=session_factory,
        stop_requested=threading.Event(),
        clock=clock,
    )


def test_the_scheduler_runs_at_start_then_on_the_cron_schedule(runner, session_factory):
    clock, job = Clock(), CountingJob()
    scheduler = _scheduler(runner, session_factory, job, clock)

    scheduler.tick()  # start-up: catch up at once
    clock.now += timedelta(minutes=4)
    scheduler.tick()  # 12:04, next due 12:05
    clock.now += timedelta(minutes=1)
    scheduler.tick()  # 12:05

    assert len(job.runs) == 2


def test_a_run_request_is_taken_at_the_next_tick(runner, session_factory, session):
    clock, job = Clock(), CountingJob()
    scheduler = _scheduler(runner, session_factory, job, clock, schedule="3600")
    scheduler.tick()
    with session_factory.begin() as s:
        s.add(SyncRunRequest(sync_type="NOTIFICATIONS", requested_by="ops"))

    scheduler.tick()
    scheduler.tick()  # the request was consumed: no third run

    assert len(job.runs) == 2
    assert [r.details["trigger"] for r in _runs(session)] == ["schedule", "request"]
    assert session.scalars(select(SyncRunRequest)).all() == []


def test_a_request_for_a_type_without_a_job_is_recorded_failed(runner, session_factory, session):
    scheduler = _scheduler(runner, session_factory, CountingJob(), Clock(), schedule="3600")
    with session_factory.begin() as s:
        s.add(SyncRunRequest(sync_type="AD_USERS", requested_by="ops"))

    scheduler.tick()

    refused = [r for r in _runs(session) if r.sync_type == "AD_USERS"]
    assert [(r.status, r.error_message) for r in refused] == [
        ("FAILED", "This version of the sync service has no AD_USERS job")
    ]


def test_interrupted_keeps_partial_counts(runner, session):
    @dataclass
    class Partial:
        sync_type: SyncType = SyncType.NOTIFICATIONS

        def run(self, context: JobContext) -> JobResult:
            raise SyncInterrupted(JobResult(processed=2, updated=2))

    runner.run(Partial(), JobContext(threading.Event()))
    [run] = _runs(session)
    assert (run.status, run.records_processed) == ("INTERRUPTED", 2)


def test_each_run_is_counted_by_type_and_result(runner):
    from prometheus_client.registry import REGISTRY

    def count(result: str) -> float:
        labels = {"sync_type": "NOTIFICATIONS", "result": result}
        return REGISTRY.get_sample_value("sharepack_sync_runs_total", labels) or 0.0

    before = {result: count(result) for result in ("COMPLETED", "FAILED")}
    runner.run(CountingJob(), JobContext(threading.Event()))
    runner.run(CountingJob(error=RuntimeError("boom")), JobContext(threading.Event()))

    assert {result: count(result) - before[result] for result in before} == {"COMPLETED": 1.0, "FAILED": 1.0}
