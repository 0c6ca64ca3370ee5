"""Metrics tell what happened: the state gauges read the database and the queue, a provisioning run
against the emulator moves the pack, step and Databricks call counters, and the API counts its requests.

Counters are process-global, so the tests assert differences (after - before) of their samples."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import REGISTRY
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.context import Services
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from shared.models import SharePack, SyncJob
from shared.models.history import History
from shared.platform.credentials import DatabricksCredentials
from shared.platform.db import make_engine
from shared.platform.gauges import StateCollector
from shared.platform.health import check_health
from shared.platform.metrics import databricks_endpoint, validation_rule
from shared.platform.status import SharePackStatus
from shared.provisioning.clients import WorkspaceClients
from shared.queue.factory import poison_queue_name
from shared.queue.messages import ProvisionSharePack
from shared.queue.postgres import PostgresQueue
from shared.share_pack_file.model import Strategy
from tests.integration.api.conftest import API_KEY, AZURE_WORKSPACE, RecordingPublisher, make_settings
from tests.support.builders import d2o, pack, share
from tests.support.emulator import clear_databricks_env
from tests.support.postgres import migrated_database_url
from worker.jobs.provision import ProvisioningJob


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gauges(collector: StateCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


@pytest.fixture(scope="module")
def own_url(postgres_server_url: str) -> str:
    url = migrated_database_url(postgres_server_url, prefix="metrics")
    return url


@pytest.fixture
def own_engine(own_url: str) -> Iterator[Engine]:
    engine = make_engine(own_url)
    yield engine
    engine.dispose()


def test_state_gauges_read_the_database_and_the_queue(own_engine: Engine):
    queue_name = f"m-{uuid.uuid4().hex[:8]}"
    queue, poison = PostgresQueue(own_engine, queue_name), PostgresQueue(own_engine, poison_queue_name(queue_name))
    for q in (queue, poison):
        q.ensure_exists()
    for body in ("a", "b", "c"):
        queue.send(body)
    poison.send("bad")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE workflow_runtime.queue_messages SET inserted_at = :t WHERE body = 'a'"),
                     {"t": hour_ago - timedelta(minutes=20)})
        conn.execute(insert(SharePack).values(
            share_pack_id=uuid.uuid4(), version=1, effective_to=None, is_current=True, created_by="t",
            share_pack_name="old", share_pack_status="IN_PROGRESS", requested_by="a@example.com",
            strategy="NEW", config={}, file_format="yaml", workspace_url=AZURE_WORKSPACE, created_at=hour_ago,
        ))
        runs = [("AD_USERS", "FAILED"), ("AD_USERS", "COMPLETED"), ("AD_USERS", "FAILED"),
                ("AD_USERS", "INTERRUPTED"), ("AD_USERS", "FAILED"), ("AD_GROUPS", "FAILED"),
                ("AD_GROUPS", "COMPLETED")]
        conn.execute(insert(SyncJob), [
            {"sync_type": kind, "status": status, "started_at": hour_ago + timedelta(minutes=i)}
            for i, (kind, status) in enumerate(runs)
        ])
    settings = make_settings(azure_queue_name=queue_name)
    depth = {q.name: q for q in (queue, poison)}
    values = gauges(StateCollector(own_engine, settings, service="worker",
                                   depth=lambda name: depth[name].approximate_count()))

    assert values[("sharepack_database_up", (("service", "worker"),))] == 1
    assert values[("sharepack_queue_depth", (("queue", queue_name),))] == 3
    assert values[("sharepack_poison_queue_depth", (("queue", poison.name),))] == 1
    assert 4800 <= values[("sharepack_queue_oldest_message_age_seconds", (("queue", queue_name),))] < 4900
    assert 3600 <= values[("sharepack_oldest_in_progress_pack_age_seconds", ())] < 3700
    assert values[("sharepack_sync_consecutive_failures", (("sync_type", "AD_USERS"),))] == 3
    assert values[("sharepack_sync_consecutive_failures", (("sync_type", "AD_GROUPS"),))] == 0


def test_an_unreachable_database_is_a_gauge_not_an_error():
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        values = gauges(StateCollector(dead, make_settings(), service="worker"))
    finally:
        dead.dispose()
    assert values[("sharepack_database_up", (("service", "worker"),))] == 0
    assert ("sharepack_oldest_in_progress_pack_age_seconds", ()) not in values


def test_a_provisioning_run_moves_the_pack_step_and_databricks_counters(
    emulator: EmulatorControl, engine: Engine, session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
):
    clear_databricks_env(monkeypatch)
    emulator.seed_tables(["sales.reporting.orders"])
    clients = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), retry_timeout_seconds=3)
    spec = pack(Strategy.NEW, recipients=[d2o("acme")],
                shares=[share("sales", ["sales.reporting.orders"], recipients=["acme"])])
    with session_factory.begin() as session:
        row = History(session, SharePack).create(
            created_by="test", share_pack_name="metrics-pack", share_pack_status=SharePackStatus.IN_PROGRESS,
            provisioning_status="Queued for provisioning", requested_by=spec.metadata.requestor,
            strategy="NEW", config=spec.to_dict(), file_format="yaml", workspace_url=emulator.url,
            created_at=datetime.now(UTC),
        )
    job = ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=clients.gateway)
    before = {
        "completed": sample("sharepack_packs_finished_total", status="COMPLETED", workspace=emulator.url),
        "durations": sample("sharepack_pack_duration_seconds_count", status="COMPLETED"),
        "shares_step": sample("sharepack_step_duration_seconds_count", step="Creating shares"),
        "share_calls": sample("sharepack_databricks_calls_total", endpoint="share", error_code="OK"),
    }

    job.run(ProvisionSharePack(share_pack_id=row.share_pack_id, request_id="r"), _Never())

    assert sample("sharepack_packs_finished_total", status="COMPLETED", workspace=emulator.url) \
        == before["completed"] + 1
    assert sample("sharepack_pack_duration_seconds_count", status="COMPLETED") == before["durations"] + 1
    assert sample("sharepack_step_duration_seconds_count", step="Creating shares") == before["shares_step"] + 1
    assert sample("sharepack_databricks_calls_total", endpoint="share", error_code="OK") > before["share_calls"]


class _Never:
    def should_stop(self) -> bool:
        return False


def test_the_api_counts_requests_by_route_uploads_and_validation_rules(engine, session_factory):
    queue = PostgresQueue(engine, f"api-{uuid.uuid4().hex[:8]}")
    queue.ensure_exists()
    client = create_app(
        Services(
            make_settings(azure_queue_name=queue.name),
            session_factory=session_factory,
            publisher=RecordingPublisher(),
            health_check=lambda: check_health(engine, queue),
        ),
    ).test_client()
    route = "/workflow/sharepack/<string:share_pack_id>"
    before = {
        "not_found": sample("sharepack_http_requests_total", method="GET", route=route, status="404"),
        "invalid": sample("sharepack_uploads_total", result="invalid"),
        "rule": sample("sharepack_validation_failures_total", rule="metadata"),
    }
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": AZURE_WORKSPACE}

    assert client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers).status_code == 404
    upload = client.post("/workflow/sharepack/upload", headers=headers,
                         data={"file": (_bytes(b"recipient: []\nshare: []\n"), "p.yaml")})
    assert upload.status_code == 400

    assert sample("sharepack_http_requests_total", method="GET", route=route, status="404") \
        == before["not_found"] + 1
    assert sample("sharepack_uploads_total", result="invalid") == before["invalid"] + 1
    rules = {issue["path"] for issue in upload.json["ValidationErrors"]}
    assert "metadata" in {validation_rule(path) for path in rules}
    assert sample("sharepack_validation_failures_total", rule="metadata") == before["rule"] + 1
    body = client.get("/metrics", headers=headers)
    assert body.status_code == 200 and b"sharepack_http_requests_total{" in body.data


def _bytes(content: bytes):
    import io

    return io.BytesIO(content)


def test_labels_stay_bounded():
    assert databricks_endpoint("share 'sales'") == "share"
    assert databricks_endpoint("recipients") == "recipients"
    assert validation_rule("share[0].data_objects[12].name") == "share[].data_objects[].name"
    assert validation_rule("") == "file"
