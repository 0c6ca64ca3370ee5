"""The monitoring views fold a pack's versions (one per step) into runs with the right numbers.

Each test writes share pack histories with known timestamps straight into `deltashare.share_packs` and
reads the views back; the numbers asserted are computed by hand from those timestamps.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from shared.models import SharePack, SyncJob

T0 = datetime(2001, 2, 3, 9, 0, tzinfo=UTC)  # hours no other test writes packs in


def write_history(session: Session, versions: list[tuple[timedelta, str, str, str | None]], *,
                  start: datetime = T0, name: str = "pack") -> uuid.UUID:
    """Insert one pack's versions: (offset from start, share_pack_status, provisioning_status, error)."""
    pack_id = uuid.uuid4()
    times = [start + offset for offset, *_ in versions]
    rows: list[dict[str, Any]] = []
    for number, ((_, status, progress, error), begins) in enumerate(zip(versions, times, strict=True), 1):
        ends = times[number] if number < len(times) else None
        rows.append({
            "share_pack_id": pack_id, "version": number, "is_current": ends is None,
            "effective_from": begins, "effective_to": ends, "created_by": "test",
            "share_pack_name": name, "share_pack_status": status, "provisioning_status": progress,
            "error_message": error, "requested_by": "a@example.com", "strategy": "NEW", "config": {},
            "file_format": "yaml", "workspace_url": "https://adb-1.azuredatabricks.net", "created_at": start,
        })
    session.execute(insert(SharePack), rows)
    return pack_id


def completed_run(seconds_per_step: int = 10, queue_wait: int = 5) -> list[tuple[timedelta, str, str, None]]:
    """Upload, then steps 1..7 `seconds_per_step` apart, then the COMPLETED version."""
    versions = [(timedelta(0), "IN_PROGRESS", "Queued for provisioning", None)]
    for step in range(1, 8):
        offset = timedelta(seconds=queue_wait + (step - 1) * seconds_per_step)
        versions.append((offset, "IN_PROGRESS", f"Step {step}/8: label", None))
    done = timedelta(seconds=queue_wait + 7 * seconds_per_step)
    versions.append((done, "COMPLETED", "Step 8/8: Completed (shares=1)", None))
    return versions


def runs(session: Session, *pack_ids: uuid.UUID) -> list[dict[str, Any]]:
    """This test's runs only: other tests may have committed packs to the suite's database."""
    result = session.execute(
        text("SELECT * FROM monitoring.pack_runs WHERE share_pack_id = ANY(:ids) ORDER BY submitted_at, run_number"),
        {"ids": list(pack_ids)},
    )
    return [dict(row._mapping) for row in result]


def test_one_row_per_run_with_its_real_duration_and_steps(session: Session):
    pack = write_history(session, completed_run(seconds_per_step=10, queue_wait=5))

    [run] = runs(session, pack)
    assert run["share_pack_id"] == pack and run["run_number"] == 1 and run["versions"] == 9
    assert run["submitted_at"] == T0
    assert run["started_at"] == T0 + timedelta(seconds=5)
    assert run["finished_at"] == T0 + timedelta(seconds=75)
    assert float(run["duration_seconds"]) == 75  # not the lifetime of one version, and not NULL
    assert float(run["queue_wait_seconds"]) == 5
    assert float(run["processing_seconds"]) == 70
    assert run["outcome"] == "COMPLETED" and run["steps"] == 8 and run["retries"] == 0
    assert run["error_message"] is None


def test_failed_run_keeps_the_step_and_error_and_a_running_pack_has_no_duration(session: Session):
    failing_id = write_history(session, [
        (timedelta(0), "IN_PROGRESS", "Queued for provisioning", None),
        (timedelta(seconds=2), "IN_PROGRESS", "Step 1/8: Resolving tenant", None),
        (timedelta(seconds=3), "IN_PROGRESS", "Step 4/8: Creating shares", None),
        (timedelta(seconds=33), "IN_PROGRESS", "Step 4/8: Creating shares will be retried: 503", None),
        (timedelta(seconds=64), "IN_PROGRESS", "Step 4/8: Creating shares", None),
        (timedelta(seconds=70), "FAILED", "Step 4/8: Creating shares", "PERMISSION_DENIED: no"),
    ], name="failing")
    running_id = write_history(session, [
        (timedelta(0), "IN_PROGRESS", "Queued for provisioning", None),
        (timedelta(seconds=1), "IN_PROGRESS", "Step 1/8: Resolving tenant", None),
    ], start=T0 + timedelta(minutes=1), name="running")

    failing, running = runs(session, failing_id, running_id)
    assert failing["outcome"] == "FAILED" and float(failing["duration_seconds"]) == 70
    assert failing["steps"] == 2 and failing["retries"] == 1
    assert failing["last_status"] == "Step 4/8: Creating shares"
    assert failing["error_message"] == "PERMISSION_DENIED: no"
    assert running["outcome"] == "IN_PROGRESS" and running["finished_at"] is None
    assert running["duration_seconds"] is None and float(running["queue_wait_seconds"]) == 1


def test_a_requeued_pack_is_a_second_run(session: Session):
    pack = write_history(session, [
        (timedelta(0), "IN_PROGRESS", "Queued for provisioning", None),
        (timedelta(seconds=4), "IN_PROGRESS", "Step 1/8: Resolving tenant", None),
        (timedelta(seconds=10), "FAILED", "Step 1/8: Resolving tenant", "boom"),
        (timedelta(hours=1), "IN_PROGRESS", "Queued for provisioning", None),
        (timedelta(hours=1, seconds=3), "IN_PROGRESS", "Step 1/8: Resolving tenant", None),
        (timedelta(hours=1, seconds=20), "COMPLETED", "Step 8/8: Completed", None),
    ])
    first, second = runs(session, pack)
    assert (first["run_number"], first["outcome"], float(first["duration_seconds"])) == (1, "FAILED", 10)
    assert (second["run_number"], second["outcome"], float(second["duration_seconds"])) == (2, "COMPLETED", 20)
    assert second["submitted_at"] == T0 + timedelta(hours=1)


def test_hourly_throughput_counts_packs_not_steps(session: Session):
    # 09:00 hour: three packs submitted and finished (durations 40 s, 75 s, 110 s); one fails.
    write_history(session, completed_run(seconds_per_step=5), start=T0)
    write_history(session, completed_run(seconds_per_step=10), start=T0 + timedelta(minutes=10))
    failed = completed_run(seconds_per_step=15)
    failed[-1] = (failed[-1][0], "FAILED", "Step 7/8: Pipelines", "broken")
    write_history(session, failed, start=T0 + timedelta(minutes=20))
    # Submitted at 09:59:30, finished at 10:00:45: counted as submitted at 09h, finished at 10h.
    write_history(session, completed_run(seconds_per_step=10), start=T0 + timedelta(minutes=59, seconds=30))

    hours = {
        row.hour: row
        for row in session.execute(text("SELECT * FROM monitoring.hourly_throughput WHERE hour >= :t"), {"t": T0})
    }
    nine, ten = hours[T0], hours[T0 + timedelta(hours=1)]
    assert (nine.submitted, nine.finished, nine.completed, nine.failed) == (4, 3, 2, 1)
    assert float(nine.avg_duration_seconds) == 75 and nine.p50_duration_seconds == 75
    assert float(nine.max_duration_seconds) == 110
    assert (ten.submitted, ten.finished, ten.completed, ten.failed) == (0, 1, 1, 0)
    assert float(ten.avg_duration_seconds) == 75


def test_recent_failures_are_the_last_24_hours_with_their_error(session: Session):
    now = session.scalar(text("SELECT now()"))
    assert now is not None
    ours: list[str] = []
    for hours_ago, error in ((2, "recent"), (30, "too old")):
        ours.append(str(write_history(session, [
            (timedelta(0), "IN_PROGRESS", "Queued for provisioning", None),
            (timedelta(seconds=1), "IN_PROGRESS", "Step 3/8: Provisioning recipients", None),
            (timedelta(seconds=2), "FAILED", "Step 3/8: Provisioning recipients", error),
        ], start=now - timedelta(hours=hours_ago), name=error)))
    ours.append(str(write_history(session, completed_run(), start=now - timedelta(hours=1))))
    sync_ids = session.scalars(insert(SyncJob).returning(SyncJob.sync_job_id), [
        {"sync_type": "AD_USERS", "status": "FAILED", "started_at": now - timedelta(hours=3),
         "completed_at": now - timedelta(hours=3), "error_message": "Graph said 403"},
        {"sync_type": "AD_GROUPS", "status": "COMPLETED", "started_at": now - timedelta(hours=3),
         "completed_at": now - timedelta(hours=3)},
    ]).all()
    ours.extend(str(i) for i in sync_ids)

    rows = session.execute(
        text("SELECT * FROM monitoring.recent_failures WHERE subject_id = ANY(:ours) ORDER BY failed_at DESC"),
        {"ours": ours},
    ).all()
    assert [(r.kind, r.subject_name, r.failed_step, r.error_message) for r in rows] == [
        ("share_pack", "recent", "Step 3/8: Provisioning recipients", "recent"),
        ("sync_job", "AD_USERS", "FAILED", "Graph said 403"),
    ]


def approval_run(decision: str) -> list[tuple[timedelta, str, str, str | None]]:
    """Upload held for an approver 10 min; then declined, or approved and provisioned in 30 s."""
    waiting = [(timedelta(0), "PENDING_APPROVAL", "Waiting for approval", None)]
    if decision == "DECLINED":
        return [*waiting, (timedelta(minutes=10), "DECLINED", "Declined by approver", None)]
    if decision == "PENDING_APPROVAL":
        return waiting
    approved = timedelta(minutes=10)
    return [
        *waiting,
        (approved, "IN_PROGRESS", "Queued for provisioning", None),
        (approved + timedelta(seconds=5), "IN_PROGRESS", "Step 1/8: label", None),
        (approved + timedelta(seconds=30), "COMPLETED", "Step 8/8: Completed", None),
    ]


def test_every_status_gets_its_own_outcome_and_waiting_for_an_approver_is_not_queue_time(session: Session):
    start = T0 + timedelta(hours=3)
    declined = write_history(session, approval_run("DECLINED"), start=start, name="declined")
    pending = write_history(session, approval_run("PENDING_APPROVAL"), start=start, name="pending")
    approved = write_history(session, approval_run("COMPLETED"), start=start, name="approved")
    plain = write_history(session, completed_run(seconds_per_step=1, queue_wait=2), start=start, name="plain")
    invalid = write_history(session, [
        (timedelta(0), "IN_PROGRESS", "Queued for provisioning", None),
        (timedelta(seconds=1), "VALIDATION_FAILED", "Step 2/8: Validating", "no such table"),
    ], start=start, name="invalid")
    running = write_history(session, completed_run()[:3], start=start, name="running")

    by_name = {run["share_pack_name"]: run for run in runs(session, declined, pending, approved, plain, invalid,
                                                             running)}
    outcomes = {name: run["outcome"] for name, run in by_name.items()}
    assert outcomes == {"declined": "DECLINED", "pending": "PENDING_APPROVAL", "approved": "COMPLETED",
                        "plain": "COMPLETED", "invalid": "VALIDATION_FAILED", "running": "IN_PROGRESS"}

    assert by_name["declined"]["finished_at"] == start + timedelta(minutes=10)
    assert float(by_name["declined"]["approval_wait_seconds"]) == 600
    assert by_name["declined"]["queue_wait_seconds"] is None  # it was never queued
    assert by_name["pending"]["finished_at"] is None and by_name["pending"]["approval_wait_seconds"] is None
    assert float(by_name["approved"]["approval_wait_seconds"]) == 600
    assert float(by_name["approved"]["queue_wait_seconds"]) == 5  # from the approval, not the upload
    assert float(by_name["approved"]["duration_seconds"]) == 630  # what the requestor waited, in all
    assert by_name["plain"]["approval_wait_seconds"] is None
    assert float(by_name["plain"]["queue_wait_seconds"]) == 2

    # The "stuck packs" question of docs/monitoring.md names the running pack only.
    stuck = session.execute(text(
        "SELECT share_pack_name FROM monitoring.pack_runs WHERE outcome = 'IN_PROGRESS' AND share_pack_id = ANY(:i)"
    ), {"i": [declined, pending, approved, plain, invalid, running]}).scalars().all()
    assert stuck == ["running"]


def test_hourly_throughput_counts_a_declined_pack_as_finished_but_not_failed(session: Session):
    start = T0 + timedelta(hours=6)
    write_history(session, approval_run("DECLINED"), start=start)
    write_history(session, approval_run("PENDING_APPROVAL"), start=start)
    write_history(session, approval_run("COMPLETED"), start=start)
    failed = completed_run()
    failed[-1] = (failed[-1][0], "FAILED", "Step 7/8: Pipelines", "broken")
    write_history(session, failed, start=start)

    [hour] = session.execute(text("SELECT * FROM monitoring.hourly_throughput WHERE hour = :h"), {"h": start}).all()
    assert (hour.submitted, hour.finished, hour.completed, hour.failed, hour.declined) == (4, 3, 1, 1, 1)


def test_recent_failures_leave_declined_and_pending_packs_out(session: Session):
    now = session.scalar(text("SELECT now()"))
    assert now is not None
    ids = [write_history(session, approval_run(decision), start=now - timedelta(hours=1))
           for decision in ("DECLINED", "PENDING_APPROVAL")]
    rows = session.execute(text("SELECT * FROM monitoring.recent_failures WHERE subject_id = ANY(:i)"),
                           {"i": [str(i) for i in ids]}).all()
    assert rows == []
