"""GET /workflow/sync/jobs and POST /workflow/sync/jobs/{sync_type}/run."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Notification, NotificationEvent, SyncJob, SyncRunRequest
from tests.integration.api.conftest import API_KEY, make_settings


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def recorded_runs(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add_all(
            [
                SyncJob(sync_type="NOTIFICATIONS", status="COMPLETED", records_processed=4, records_updated=4),
                SyncJob(sync_type="NOTIFICATIONS", status="FAILED", error_message="SMTP down"),
                SyncJob(sync_type="AD_USERS", status="COMPLETED"),
            ]
        )


def test_lists_runs_in_the_documented_shape(client, admin_headers, recorded_runs):
    response = client.get("/workflow/sync/jobs", headers=admin_headers)

    assert response.status_code == 200
    body = response.json
    assert body["Count"] == 3 and body["Total"] == 3 and len(body["SyncJobs"]) == 3
    completed = next(j for j in body["SyncJobs"] if j["RecordsProcessed"] == 4)
    assert {"SyncJobId", "SyncType", "Status", "StartedAt", "CompletedAt", "RecordsProcessed"} <= set(completed)
    assert completed["SyncType"] == "NOTIFICATIONS" and completed["Status"] == "COMPLETED"


def test_filters_by_type_and_status_and_paginates(client, admin_headers, recorded_runs):
    failed = client.get("/workflow/sync/jobs?sync_type=NOTIFICATIONS&status=FAILED", headers=admin_headers).json
    assert [j["ErrorMessage"] for j in failed["SyncJobs"]] == ["SMTP down"]

    page = client.get("/workflow/sync/jobs?page=2&page_size=2", headers=admin_headers).json
    assert (page["Count"], page["Total"], page["Page"], page["PageSize"]) == (1, 3, 2, 2)


@pytest.mark.parametrize(
    "query", ["status=DONE", "sync_type=nope", "page=0", "page_size=1000", "page=abc", "page=99999999999999"]
)
def test_bad_filters_are_refused(client, admin_headers, query, recorded_runs):
    response = client.get(f"/workflow/sync/jobs?{query}", headers=admin_headers)
    assert response.status_code == 400, response.json


def test_runs_need_credentials(client, recorded_runs):
    assert client.get("/workflow/sync/jobs").status_code == 401
    assert client.post("/workflow/sync/jobs/NOTIFICATIONS/run").status_code == 401
    assert client.get("/workflow/sync/jobs", headers={"Authorization": "Bearer wrong-key-123"}).status_code == 401


def test_run_now_records_one_request_per_type(client, admin_headers, session):
    first = client.post("/workflow/sync/jobs/notifications/run", headers=admin_headers)
    again = client.post("/workflow/sync/jobs/NOTIFICATIONS/run", headers=admin_headers)

    assert first.status_code == again.status_code == 202
    assert first.json["SyncType"] == "NOTIFICATIONS"
    assert first.json["RequestedAt"] == again.json["RequestedAt"]
    [request] = session.scalars(select(SyncRunRequest)).all()
    assert (request.sync_type, request.requested_by) == ("NOTIFICATIONS", "tester")


def test_run_now_for_an_unknown_type_is_404(client, admin_headers, session):
    response = client.post("/workflow/sync/jobs/EVERYTHING/run", headers=admin_headers)
    assert response.status_code == 404
    assert "NOTIFICATIONS" in response.json["Message"]
    assert session.scalars(select(SyncRunRequest)).all() == []


def test_a_notification_shows_its_status_history(client, admin_headers, session_factory):
    with session_factory.begin() as session:
        notification = Notification(
            notification_type="PROVISION_SUCCESS", recipient_email="a@example.com", subject="done", body="done"
        )
        session.add(notification)
        session.flush()
        session.add(
            NotificationEvent(
                notification_id=notification.notification_id, status="PENDING", attempt=1, error_message="SMTP 451 busy"
            )
        )
        notification_id = notification.notification_id

    response = client.get(f"/workflow/sync/notifications/{notification_id}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json["Status"] == "PENDING"
    assert [(h["Status"], h["Attempt"], h["ErrorMessage"]) for h in response.json["History"]] == [
        ("PENDING", 0, None),
        ("PENDING", 1, "SMTP 451 busy"),
    ]


@pytest.mark.parametrize("raw", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_notification_is_404(client, admin_headers, raw):
    assert client.get(f"/workflow/sync/notifications/{raw}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/workflow/sync/jobs"),
        ("post", "/workflow/sync/jobs/NOTIFICATIONS/run"),
        ("get", "/workflow/sync/notifications/3f2b8c1e-0000-4000-8000-000000000001"),
    ],
)
def test_only_administrators_operate_the_sync_service(app_factory, queue, session_factory, method, path):
    outsider = app_factory(
        make_settings(azure_queue_name=queue.name,
                      api_keys=f"tester={API_KEY},someone=someone-key-0123456789abcdef01234")
    )

    response = getattr(outsider, method)(path, headers={"Authorization": "Bearer someone-key-0123456789abcdef01234"})

    assert response.status_code == 403, response.json
    assert "Only administrators" in response.json["Message"]
    with session_factory() as session:
        assert session.scalars(select(SyncRunRequest)).all() == []
