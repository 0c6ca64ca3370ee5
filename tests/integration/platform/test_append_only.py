"""The five logs are append-only: the database refuses rewrites and deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.models import AuditEntry, Notification, SyncJob


def _audit(session) -> AuditEntry:
    entry = AuditEntry(entity_type="share_pack", entity_id="1", action="CREATED", performed_by="alice")
    session.add(entry)
    session.flush()
    return entry


@pytest.mark.parametrize("table", ["audit_trail", "job_metrics", "project_costs", "sync_jobs", "notifications"])
def test_truncate_is_refused(session, table):
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"TRUNCATE deltashare.{table}"))


def test_audit_rows_cannot_be_rewritten(session):
    entry = _audit(session)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(
            text("UPDATE deltashare.audit_trail SET performed_by = 'mallory' WHERE audit_id = :id"),
            {"id": entry.audit_id},
        )


def test_delete_of_existing_audit_row_is_refused(session):
    entry = _audit(session)
    with pytest.raises(DBAPIError, match="cannot be deleted"), session.begin_nested():
        session.execute(text("DELETE FROM deltashare.audit_trail WHERE audit_id = :id"), {"id": entry.audit_id})


def test_notification_delivery_columns_may_change_but_content_may_not(session):
    note = Notification(notification_type="PROVISION_SUCCESS", subject="Done", body="Your share pack is ready")
    session.add(note)
    session.flush()
    session.execute(
        text("UPDATE deltashare.notifications SET status = 'SENT', sent_at = now() WHERE notification_id = :id"),
        {"id": note.notification_id},
    )
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(
            text("UPDATE deltashare.notifications SET body = 'changed' WHERE notification_id = :id"),
            {"id": note.notification_id},
        )


def test_sync_job_outcome_can_be_recorded(session):
    job = SyncJob(sync_type="AD_USERS", status="RUNNING")
    session.add(job)
    session.flush()
    session.execute(
        text(
            "UPDATE deltashare.sync_jobs SET status = 'COMPLETED', completed_at = now(), records_processed = 3 "
            "WHERE sync_job_id = :id"
        ),
        {"id": job.sync_job_id},
    )
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(
            text("UPDATE deltashare.sync_jobs SET sync_type = 'AD_GROUPS' WHERE sync_job_id = :id"),
            {"id": job.sync_job_id},
        )


def test_project_cost_total_is_computed_by_the_database(session):
    session.execute(
        text(
            "INSERT INTO deltashare.project_costs (project_id, period_start, period_end, period_type, "
            "databricks_cost, azure_cost, network_cost, io_cost) "
            "VALUES (gen_random_uuid(), now(), now(), 'MONTH', 10.50, 2.25, 1, 0.25)"
        )
    )
    assert str(session.scalar(text("SELECT total_cost FROM deltashare.project_costs"))) == "14.00"
