"""Health, Entra ID tokens, a queue that is down, and a database that is down."""

from __future__ import annotations

import io
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, select

from shared.models import OutboxMessage
from shared.platform.db import make_session_factory
from shared.platform.errors import ServiceUnavailable
from shared.queue.outbox import OutboxRelay
from tests.integration.api.conftest import LOCAL_WORKSPACE, health_of, make_settings
from tests.integration.api.test_share_pack_routes import sample, upload

TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://sharepack-workflow"


class UnreachableQueue:
    """A queue whose backend is down: every call fails the way real backends report it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _down(self, *_args: object, **_kwargs: object) -> None:
        raise ServiceUnavailable("queue unreachable")

    ping = send = ensure_exists = receive = extend = release = delete = approximate_count = _down


def test_health_reports_database_tables_and_queue(client):
    response = client.get("/workflow/health")
    assert response.status_code == 200
    assert response.json == {
        "Message": "Healthy", "DatabaseConnected": True, "QueueConnected": True, "TablesCount": 16,
    }


def test_liveness_needs_no_dependency(app_factory, queue):
    dead = create_engine("postgresql+psycopg://app:s3cret@/nodb?host=/nonexistent")
    client = app_factory(
        session_factory=make_session_factory(dead), health_check=health_of(dead, UnreachableQueue(queue.name))
    )
    assert client.get("/workflow/health/live").json == {"Message": "Alive"}


def test_health_is_503_with_the_reason_when_the_queue_is_down(app_factory, engine, queue):
    client = app_factory(health_check=health_of(engine, UnreachableQueue(queue.name)))
    response = client.get("/workflow/health")
    assert response.status_code == 503
    assert response.json["QueueConnected"] is False and response.json["Message"] == "Unhealthy: queue unreachable"


def test_health_is_503_when_the_database_is_down_and_reveals_no_secret(app_factory, queue):
    dead = create_engine("postgresql+psycopg://app:s3cret@/nodb?host=/nonexistent", pool_pre_ping=True)
    client = app_factory(health_check=health_of(dead, queue))
    response = client.get("/workflow/health")
    assert response.status_code == 503
    assert response.json["DatabaseConnected"] is False
    assert "s3cret" not in response.get_data(as_text=True)


def test_upload_while_the_queue_is_down_succeeds_and_is_published_later(
    app_factory, headers, queue, committing_sessions, real_publisher
):
    sessions = committing_sessions
    down = app_factory(session_factory=sessions, publisher=real_publisher(UnreachableQueue(queue.name)))
    response = upload(down, headers, sample())
    assert response.status_code == 202
    share_pack_id = response.json["SharePackId"]
    stmt = select(OutboxMessage).where(OutboxMessage.payload["share_pack_id"].astext == share_pack_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the publisher tries, fails and records why
        with sessions() as session:
            row = session.scalars(stmt).one()
        if row.attempts:
            break
        time.sleep(0.05)
    assert row.published_at is None and row.attempts >= 1 and "queue unreachable" in row.last_error
    assert queue.approximate_count() == 0

    OutboxRelay(sessions, queue).run_once()  # the queue is back

    message = queue.receive(visibility_timeout=30)
    assert json.loads(message.content)["share_pack_id"] == share_pack_id


def test_a_database_outage_is_503_without_a_stack_trace(app_factory, headers):
    dead = create_engine("postgresql+psycopg://app:s3cret@/nodb?host=/nonexistent")
    client = app_factory(session_factory=make_session_factory(dead))
    response = client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "s3cret" not in text and "psycopg" not in text


# -- Microsoft Entra ID ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def entra_client(app_factory, queue, signing_key, tmp_path):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = make_settings(
        azure_queue_name=queue.name, auth_mode="entra", entra_tenant_id=TENANT, entra_audience=AUDIENCE,
        entra_jwks_file=str(jwks),
    )
    return app_factory(settings)


def token(signing_key, **overrides) -> str:
    claims = {
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "aud": AUDIENCE,
        "exp": int(time.time()) + 600, "iat": int(time.time()), "preferred_username": "ann@example.com",
        "tid": TENANT, "oid": "00000000-0000-0000-0000-00000000a11e", "roles": ["ShareAdmin"],
        **overrides,
    }
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "k1"})


def test_entra_token_identifies_the_caller(entra_client, signing_key):
    headers = {"Authorization": f"Bearer {token(signing_key)}", "X-Workspace-URL": LOCAL_WORKSPACE}
    response = entra_client.post(
        "/workflow/sharepack/upload", data={"file": (io.BytesIO(sample()), "p.yaml")}, headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    history = entra_client.get(f"/workflow/sharepack/{response.json['SharePackId']}/history", headers=headers)
    assert history.json["History"][0]["ChangedBy"] == "ann@example.com"


@pytest.mark.parametrize(
    "overrides",
    [{"exp": int(time.time()) - 60}, {"aud": "api://someone-else"}, {"iss": "https://evil.example.com/v2.0"}],
)
def test_expired_or_foreign_entra_tokens_are_401(entra_client, signing_key, overrides):
    headers = {"Authorization": f"Bearer {token(signing_key, **overrides)}", "X-Workspace-URL": LOCAL_WORKSPACE}
    assert entra_client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers).status_code == 401


def test_token_signed_by_another_key_is_401(entra_client):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = {"Authorization": f"Bearer {token(other)}", "X-Workspace-URL": LOCAL_WORKSPACE}
    assert entra_client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers).status_code == 401


def test_unreachable_signing_keys_are_503_not_a_bad_token(app_factory, queue, signing_key):
    settings = make_settings(
        azure_queue_name=queue.name, auth_mode="entra", entra_tenant_id=TENANT, entra_audience=AUDIENCE,
        entra_jwks_url="http://127.0.0.1:9/discovery/v2.0/keys",  # the discard port: connection refused
    )
    headers = {"Authorization": f"Bearer {token(signing_key)}", "X-Workspace-URL": LOCAL_WORKSPACE}
    response = app_factory(settings).get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 503
    assert response.json["ErrorCode"] == "SERVICE_UNAVAILABLE"


def test_a_huge_unknown_key_id_is_401_with_a_bounded_message(entra_client, signing_key):
    forged = jwt.encode({"sub": "x"}, signing_key, algorithm="RS256", headers={"kid": "k" * 4000})
    headers = {"Authorization": f"Bearer {forged}", "X-Workspace-URL": LOCAL_WORKSPACE}
    response = entra_client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert len(response.json["Message"]) <= 250


def test_a_disabled_workflow_still_gives_a_request_id(app_factory, queue):
    client = app_factory(make_settings(azure_queue_name=queue.name, enable_workflow="false"))
    response = client.get("/workflow/health", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.json["RequestId"] == "abc-123" and response.headers["X-Request-ID"] == "abc-123"
