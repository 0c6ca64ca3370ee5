"""Every share pack route and its errors, against the real database and queue."""

from __future__ import annotations

import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import url_for
from sqlalchemy import select, text
from werkzeug.routing import Map, Rule

from shared.models import AuditEntry, OutboxMessage, Request, SharePack
from shared.platform.db import make_engine, make_session_factory
from shared.queue.messages import ProvisionSharePack
from shared.queue.postgres import PostgresQueue
from shared.use_cases.publishing import dispatch_for
from tests.integration.api.conftest import AZURE_WORKSPACE, make_settings
from tests.support.waiting import wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def upload(client, headers, content: bytes, filename: str = "pack.yaml"):
    return client.post(
        "/workflow/sharepack/upload",
        data={"file": (io.BytesIO(content), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def receive_within(queue, *, seconds: float):
    return wait_for(lambda: queue.receive(visibility_timeout=30), timeout=seconds, what=f"a message on {queue.name}")


def sample(name: str = "sample_sharepack.yaml") -> bytes:
    return (EXAMPLES / name).read_bytes()


def rejected_audits(session_factory_engine, filename: str) -> list[AuditEntry]:
    with session_factory_engine() as session:
        return [
            a
            for a in session.scalars(select(AuditEntry).where(AuditEntry.action == "REJECTED"))
            if a.new_values.get("original_filename") == filename
        ]


@pytest.fixture
def sessions(session_factory):
    """What the app wrote, seen inside the test's transaction (rolled back afterwards)."""
    return session_factory


def test_upload_yaml_is_stored_with_history_and_queued(
    app_factory, headers, queue, committing_sessions, real_publisher
):
    # Through the real outbox publisher and queue, after a real commit.
    sessions = committing_sessions
    client = app_factory(session_factory=committing_sessions, publisher=real_publisher(queue))
    response = upload(client, headers, sample())
    assert response.status_code == 202, response.json
    body = response.json
    assert body["Message"] == "Share pack uploaded successfully and queued for provisioning"
    assert body["Status"] == "IN_PROGRESS"
    assert body["SharePackName"].startswith("SharePack_jane.doe@example.com_")
    assert body["ValidationErrors"] == []
    share_pack_id = uuid.UUID(body["SharePackId"])

    with sessions() as session:
        pack = session.scalars(select(SharePack).where(SharePack.share_pack_id == share_pack_id)).one()
        assert (pack.version, pack.is_current, pack.created_by) == (1, True, "tester")
        assert pack.config["metadata"]["requestor"] == "jane.doe@example.com"
        assert pack.file_format == "yaml" and pack.workspace_url == "http://127.0.0.1:8001"
        assert session.scalars(select(Request).where(Request.share_pack_id == share_pack_id)).one()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(share_pack_id))).one()
        assert audit.action == "CREATED" and audit.performed_by == "tester"
        assert session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload["share_pack_id"].astext == str(share_pack_id))
        ).one()

    message = receive_within(queue, seconds=5)  # the publisher thread sends it right after the commit
    assert ProvisionSharePack.from_json(message.content).share_pack_id == share_pack_id
    assert queue.receive(visibility_timeout=30) is None
    with sessions() as session:
        outbox = session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload["share_pack_id"].astext == str(share_pack_id))
        ).one()
        assert outbox.published_at is not None


def test_with_the_postgresql_queue_the_upload_is_queued_by_its_own_commit(
    app_factory, headers, committing_sessions, real_publisher
):
    # As production_app wires it for queue_backend=postgres: the message row is written in the upload's
    # transaction, so it is there when the 202 is, and no outbox row waits for a publisher.
    queue = PostgresQueue(committing_sessions.kw["bind"], f"uploads-{uuid.uuid4().hex[:8]}")
    client = app_factory(session_factory=committing_sessions, publisher=real_publisher(queue),
                         dispatch=dispatch_for(queue, publish=lambda _id: None),
                         settings=make_settings(azure_queue_name=queue.name))
    response = upload(client, headers, sample())
    assert response.status_code == 202, response.json
    share_pack_id = uuid.UUID(response.json["SharePackId"])

    message = queue.receive(visibility_timeout=30)
    assert message is not None and ProvisionSharePack.from_json(message.content).share_pack_id == share_pack_id
    with committing_sessions() as session:
        assert not session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload["share_pack_id"].astext == str(share_pack_id))
        ).all()


def test_the_outbox_row_is_handed_to_the_publisher_after_commit(client, headers, sessions, publisher):
    share_pack_id = upload(client, headers, sample()).json["SharePackId"]
    with sessions() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload["share_pack_id"].astext == share_pack_id)
        ).one()
    assert publisher.notified == [row.id]


def test_upload_excel_means_the_same_as_yaml(client, headers, sessions):
    from_yaml = upload(client, headers, sample()).json
    from_excel = upload(client, headers, sample("sample_sharepack.xlsx"), "pack.xlsx")
    assert from_excel.status_code == 202, from_excel.json
    with sessions() as session:
        configs = {
            row.file_format: row.config
            for row in session.scalars(
                select(SharePack).where(
                    SharePack.share_pack_id.in_([from_yaml["SharePackId"], from_excel.json["SharePackId"]])
                )
            )
        }
    assert configs["yaml"] == configs["xlsx"]


def test_bad_yaml_syntax_is_refused_with_its_location(client, headers, sessions, publisher):
    response = upload(client, headers, b"metadata:\n  requestor: [unclosed\n", "broken.yaml")
    assert response.status_code == 400
    errors = response.json["ValidationErrors"]
    assert errors and errors[0]["location"].get("line")
    assert response.json["ErrorCode"] == "INVALID_SHARE_PACK"
    assert len(rejected_audits(sessions, "broken.yaml")) == 1
    assert publisher.notified == []


def test_a_text_file_is_refused_as_unsupported_media(client, headers, sessions):
    response = upload(client, headers, b"\x89PNG\r\n\x1a\n\x00\x00binary", "notes.txt")
    assert response.status_code == 415
    assert response.json["ErrorCode"] == "UNSUPPORTED_MEDIA_TYPE"
    assert len(rejected_audits(sessions, "notes.txt")) == 1


def test_missing_fields_are_all_reported(client, headers):
    response = upload(client, headers, b"metadata:\n  project_name: p\nrecipient: []\nshare: []\n", "thin.yaml")
    assert response.status_code == 400
    paths = {e["path"] for e in response.json["ValidationErrors"]}
    assert {"metadata.requestor", "metadata.business_line", "metadata.strategy"} <= paths


def test_unknown_workspace_is_refused_before_any_work(client, headers, sessions):
    for url in ("https://evil.example.com", "https://adb-999.9.azuredatabricks.net", ""):
        response = upload(client, {**headers, "X-Workspace-URL": url}, sample(), "unknown-ws.yaml")
        assert response.status_code == 400
        assert response.json["Message"].startswith("Invalid workspace URL")
    assert rejected_audits(sessions, "unknown-ws.yaml") == []


def test_registered_azure_workspace_is_accepted(client, headers):
    response = upload(client, {**headers, "X-Workspace-URL": AZURE_WORKSPACE + "/"}, sample())
    assert response.status_code == 202


def test_a_workspace_registered_as_a_tenant_region_leaves_the_uploads_statements_prepared(
    app_factory, headers, queue, committing_sessions
):
    """A deployment names most workspaces as tenant regions, looked up on every request. The lookup reads in a
    `read_only_session`: a plain session's ROLLBACK would make psycopg forget every statement it prepared on
    the connection, and PostgreSQL parse and plan all of the request's statements again."""
    # One pooled connection (a second one, if ever taken beside it, is closed on return): every upload's
    # statements run on the server session asked below.
    database = committing_sessions.kw["bind"].url.render_as_string(hide_password=False)
    engine = make_engine(database, pool_size=1)
    try:
        sessions = make_session_factory(engine)
        settings = make_settings(azure_queue_name=queue.name, allowed_workspace_urls="")
        client = app_factory(settings, session_factory=sessions)
        registered = {**headers, "X-Workspace-URL": AZURE_WORKSPACE}

        statuses = [upload(client, registered, sample()).status_code for _ in range(6)]

        with sessions() as session:
            prepared = session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    finally:
        engine.dispose()
    assert statuses == [202] * 6
    assert any("tenant_regions.workspace_url" in statement for statement in prepared), prepared


def test_too_large_upload_is_413(app_factory, headers, queue):
    client = app_factory(make_settings(azure_queue_name=queue.name, max_upload_bytes="2048"))
    response = upload(client, headers, b"# padding\n" * 1000 + sample())
    assert response.status_code == 413


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key-000", "Basic dGVzdA=="])
def test_missing_or_bad_credentials_are_401(client, headers, authorization):
    headers = {k: v for k, v in headers.items() if k != "Authorization"}
    if authorization:
        headers["Authorization"] = authorization
    response = client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_status_history_and_plan_of_an_upload(client, headers):
    share_pack_id = upload(client, headers, sample()).json["SharePackId"]

    status = client.get(f"/workflow/sharepack/{share_pack_id}", headers=headers)
    assert status.status_code == 200
    assert set(status.json) == {
        "SharePackId", "SharePackName", "Status", "Strategy", "ProvisioningStatus", "ErrorMessage",
        "RequestedBy", "CreatedAt", "LastUpdated", "ServiceNowTicket", "AdoTicket",
    }
    assert status.json["Strategy"] == "NEW" and status.json["RequestedBy"] == "tester"  # the caller

    history = client.get(f"/workflow/sharepack/{share_pack_id}/history", headers=headers).json
    assert [v["Version"] for v in history["History"]] == [1]
    assert history["History"][0]["ChangedBy"] == "tester"
    assert history["History"][0]["EffectiveTo"] is None

    plan = client.get(f"/workflow/sharepack/{share_pack_id}/plan", headers=headers).json
    assert plan["Plan"] is None


@pytest.mark.parametrize("share_pack_id", ["3f2b8c1e-0000-4000-8000-000000000001", "not-a-uuid", "1; DROP TABLE x"])
def test_unknown_or_malformed_id_is_404(client, headers, share_pack_id):
    for suffix in ("", "/history", "/plan"):
        response = client.get(f"/workflow/sharepack/{share_pack_id}{suffix}", headers=headers)
        assert response.status_code == 404


def test_a_pack_is_invisible_from_another_workspace(client, headers):
    share_pack_id = upload(client, headers, sample()).json["SharePackId"]
    other = {**headers, "X-Workspace-URL": AZURE_WORKSPACE}
    assert client.get(f"/workflow/sharepack/{share_pack_id}", headers=other).status_code == 404


def test_list_filters_newest_first_and_paginates(client, headers):
    ids = [upload(client, headers, sample()).json["SharePackId"] for _ in range(3)]
    page = client.get("/workflow/sharepacks?page_size=2&requested_by=TESTER", headers=headers).json
    assert page["Count"] == 2 and page["Total"] >= 3 and page["PageSize"] == 2
    listed = [p["SharePackId"] for p in page["SharePacks"]]
    assert listed == ids[::-1][:2]
    assert client.get("/workflow/sharepacks?status=COMPLETED&project=nope", headers=headers).json["Total"] == 0
    assert client.get("/workflow/sharepacks?status=BOGUS", headers=headers).status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "page=" + "9" * 20,
        "page=0",
        "page=-1",
        "page=1.5",
        "page_size=0",
        "page_size=201",
        "page_size=" + "9" * 20,
        "status=BOGUS",
        "status=%00",
        "requested_by=%00",
        "project=a%00b",
        "project=%1b[31m",
        "requested_by=" + "a" * 321,
    ],
)
def test_out_of_range_or_unsafe_query_parameters_are_400(client, headers, query):
    response = client.get(f"/workflow/sharepacks?{query}", headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["ErrorCode"] == "INVALID_INPUT" and response.json["Details"]["query"]


def test_the_last_allowed_page_is_an_empty_page(client, headers):
    response = client.get("/workflow/sharepacks?page=100000&page_size=200", headers=headers)
    assert response.status_code == 200
    assert response.json["SharePacks"] == [] and response.json["Page"] == 100000


@pytest.mark.parametrize("share_pack_id", ["%00", "a" * 5000, "%F0%9F%92%A9", "..%2F..%2Fetc"])
def test_a_hostile_path_id_is_404_with_a_bounded_message(client, headers, share_pack_id):
    response = client.get(f"/workflow/sharepack/{share_pack_id}", headers=headers)
    assert response.status_code == 404
    assert len(response.json["Message"]) <= 200


def test_disabled_workflow_answers_404_everywhere(app_factory, headers, queue):
    client = app_factory(make_settings(azure_queue_name=queue.name, enable_workflow="false"))
    assert client.get("/workflow/health").status_code == 404
    assert upload(client, headers, sample()).status_code == 404
    assert client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers).status_code == 404


def test_every_response_carries_a_request_id(client, headers):
    response = client.get("/workflow/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert client.get("/workflow/health").headers["X-Request-ID"]
    forged = client.get("/workflow/health", headers={"X-Request-ID": 'x" level=error event=forged'})
    assert forged.headers["X-Request-ID"] != 'x" level=error event=forged'


def test_openapi_document_describes_the_routes(client):
    spec = client.get("/workflow/openapi.json").json
    assert {"/workflow/sharepack/upload", "/workflow/sharepack/{share_pack_id}", "/workflow/health"} <= set(
        spec["paths"]
    )
    assert client.get("/workflow/docs").status_code == 200


def test_every_route_builds_its_urls_as_werkzeug_would(app_factory):
    """Routes compile their URL builders on first use (`api._RuleBuildingUrlsOnDemand`): each builds the same
    URL, path values quoted and other values as a query string, as a route werkzeug compiled at once."""
    app = app_factory().application
    eager = Map([Rule(rule.rule, endpoint=rule.endpoint) for rule in app.url_map.iter_rules()]).bind("localhost")
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values = {name: f"a b/{name}" for name in rule.arguments} | {"next": "/x?y=1"}
            for _ in range(2):  # compiled on the first call, reused on the second
                assert url_for(rule.endpoint, **values) == eager.build(rule.endpoint, values)


def test_the_document_written_on_first_read_is_the_same_for_every_concurrent_reader(app_factory):
    """The app writes its document when it is first asked for: readers racing for it all get one document,
    the one a later read gets, naming every documented route the app serves."""
    client = app_factory()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.get("/workflow/openapi.json"), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.get_data() for a in answers}) == 1
    document = client.get("/workflow/openapi.json")
    assert document.get_data() == answers[0].get_data()
    served = {rule.rule for rule in client.application.url_map.iter_rules()
              if rule.rule.startswith("/workflow/") and "openapi" not in rule.rule and "docs" not in rule.rule}
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in document.json["paths"]}
    assert {re.sub(r"<\w+:", "<", rule) for rule in served} - {"/workflow/metrics"} <= documented
