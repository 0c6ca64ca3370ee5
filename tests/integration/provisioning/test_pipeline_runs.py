"""JOB_METRICS and PROJECT_COSTS collection from the emulator into PostgreSQL, after a real provisioning."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from databricks.sdk import WorkspaceClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.models import JobMetric, Notification, Pipeline, ProjectCost, SyncJob
from shared.platform.status import NotificationType, SharePackStatus
from shared.provisioning.gateway import DatabricksGateway
from shared.provisioning.pipeline_state import PROJECT_TAG
from shared.share_pack_file.model import ScdType, Strategy
from shared.use_cases import pipeline_runs
from shared.use_cases.pipeline_runs import JobMetricsCollector, ProjectCostsCollector, StatementFailed
from sync.jobs.base import JobContext
from sync.jobs.lakeflow import JobMetricsJob, ProjectCostsJob
from sync.runner import SyncRunner
from tests.integration.provisioning.test_job import Never, current, submit
from tests.support.builders import d2o, pack, pipeline, share
from worker.jobs.provision import ProvisioningJob

ORDERS = "sales.reporting.orders"


@pytest.fixture
def provisioned(
    emulator: EmulatorControl, gateway: DatabricksGateway, session_factory: sessionmaker[Session], engine: Engine,
    session: Session,
) -> int:
    """Provision a pack with one scheduled pipeline; return its job id."""
    emulator.seed_tables([ORDERS])
    spec = pack(Strategy.NEW, recipients=[d2o("acme")], shares=[share("sales", [ORDERS], recipients=["acme"])],
                pipelines=[pipeline("orders_nightly", ORDERS, scd=ScdType.SCD2, keys=["id"], cron="0 0 2 * * ?",
                                    emails=["ops@example.com"])])
    command = submit(session_factory, spec)
    job = ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)
    job.run(command, Never())
    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    row = session.scalars(select(Pipeline).where(Pipeline.is_current)).one()
    assert row.databricks_pipeline_id and row.databricks_job_id
    return int(row.databricks_job_id)


def collector(session_factory: sessionmaker[Session], client: WorkspaceClient) -> JobMetricsCollector:
    return JobMetricsCollector(session_factory, client_for=lambda url: client)


def test_runs_fill_job_metrics_incrementally_and_a_failure_notifies(
    provisioned: int, emulator: EmulatorControl, workspace_client: WorkspaceClient,
    session_factory: sessionmaker[Session], session: Session,
) -> None:
    emulator.add_run(provisioned, result="SUCCESS", duration_s=90, started_s_ago=7200)
    emulator.add_run(provisioned, result="FAILED", duration_s=12, message="source table missing", started_s_ago=3600)
    running = emulator.add_run(provisioned, result=None)  # not finished: not collected yet
    metrics = collector(session_factory, workspace_client)

    first = metrics.collect()

    assert (first.written, first.failures) == (2, 1)
    rows = session.scalars(select(JobMetric).order_by(JobMetric.start_time)).all()
    assert [(r.status, r.duration_seconds) for r in rows] == [("SUCCESS", 90), ("FAILED", 12)]
    assert rows[1].error_message == "source table missing" and rows[0].pipeline_name == "orders_nightly"
    [notice] = session.scalars(
        select(Notification).where(Notification.notification_type == NotificationType.PIPELINE_FAILURE)).all()
    assert notice.recipient_email == "ops@example.com" and "source table missing" in notice.body

    emulator.finish_run(running, result="SUCCESS")
    second = metrics.collect()
    assert (second.read, second.written, second.failures) == (1, 1, 0)  # only the run not seen before
    assert metrics.collect().read == 0


def usage(project: str, day: str, quantity: str, sku: str = "JOBS_SERVERLESS") -> dict:
    return {"record_id": f"{project}-{day}-{quantity}", "sku_name": sku, "cloud": "AZURE", "usage_unit": "DBU",
            "usage_date": day, "usage_start_time": f"{day}T01:00:00Z", "usage_end_time": f"{day}T02:00:00Z",
            "usage_quantity": quantity, "custom_tags": {PROJECT_TAG: project}, "record_type": "ORIGINAL"}


PRICES = [
    {"sku_name": "JOBS_SERVERLESS", "cloud": "AZURE", "usage_unit": "DBU", "currency_code": "USD",
     "price_start_time": "2026-01-01T00:00:00Z", "price_end_time": "2026-11-02T00:00:00Z",
     "pricing": {"default": "0.30", "effective_list": {"default": "0.30"}}},
    {"sku_name": "JOBS_SERVERLESS", "cloud": "AZURE", "usage_unit": "DBU", "currency_code": "USD",
     "price_start_time": "2026-11-02T00:00:00Z", "price_end_time": None,
     "pricing": {"default": "0.35", "effective_list": {"default": "0.35"}}},
]


def test_project_costs_fill_daily_from_billing_through_paged_statements(
    provisioned: int, emulator: EmulatorControl, workspace_client: WorkspaceClient,
    session_factory: sessionmaker[Session], session: Session,
) -> None:
    emulator.seed_billing(
        usage=[usage("reporting", "2026-11-01", "10"), usage("reporting", "2026-11-01", "5"),
               usage("reporting", "2026-11-03", "4"), usage("unknown-project", "2026-11-03", "7")],
        list_prices=PRICES, chunk_rows=1,  # one row per chunk: the collector must follow next_chunk_index
    )
    costs = ProjectCostsCollector(session_factory, client_for=lambda url: workspace_client,
                                  workspace_url=emulator.url, warehouse_id="wh-1", poll_interval_seconds=0.01)

    result = costs.collect(today=date(2026, 11, 30))

    assert (result.read, result.written) == (3, 2)  # the unknown project is read, not written
    rows = session.scalars(select(ProjectCost).order_by(ProjectCost.period_start)).all()
    assert [(r.period_start, r.databricks_cost, r.period_type) for r in rows] == [
        (datetime(2026, 11, 1, tzinfo=UTC), Decimal("4.50"), "DAILY"),
        (datetime(2026, 11, 3, tzinfo=UTC), Decimal("1.40"), "DAILY"),
    ]
    assert costs.collect(today=date(2026, 11, 30)).written == 0  # unchanged days are not written again
    polls = emulator.requests(method="GET", path_contains="/api/2.0/sql/statements/")
    assert any("/result/chunks/2" in r["path"] for r in polls)


def test_a_failed_statement_is_an_error_not_zero_costs(
    emulator: EmulatorControl, workspace_client: WorkspaceClient, session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_runs, "COST_SQL", "SELECT 1")  # a table the warehouse cannot find
    costs = ProjectCostsCollector(session_factory, client_for=lambda url: workspace_client,
                                  workspace_url=emulator.url, warehouse_id="wh-1")
    with pytest.raises(StatementFailed, match="FAILED"):
        costs.collect(today=date(2026, 11, 30))


def test_each_collection_is_a_sync_jobs_row(
    provisioned: int, emulator: EmulatorControl, workspace_client: WorkspaceClient,
    session_factory: sessionmaker[Session], session: Session, engine: Engine,
) -> None:
    emulator.add_run(provisioned, result="SUCCESS", duration_s=3, started_s_ago=10)
    emulator.seed_billing(usage=[usage("reporting", "2026-11-20", "2")], list_prices=PRICES)
    runner = SyncRunner(engine, session_factory, operator_emails=())
    metrics = JobMetricsJob(collector(session_factory, workspace_client))
    costs = ProjectCostsJob(ProjectCostsCollector(session_factory, client_for=lambda url: workspace_client,
                                                  workspace_url=emulator.url, warehouse_id="wh-1", days=3650))

    for job in (metrics, costs):
        runner.run(job, JobContext(threading.Event()))

    runs = {r.sync_type: r for r in session.scalars(select(SyncJob))}
    assert (runs["JOB_METRICS"].status, runs["JOB_METRICS"].records_created) == ("COMPLETED", 1)
    assert (runs["PROJECT_COSTS"].status, runs["PROJECT_COSTS"].records_created) == ("COMPLETED", 1)


def test_a_job_deleted_by_hand_does_not_stop_the_collection(
    provisioned: int, workspace_client: WorkspaceClient, session_factory: sessionmaker[Session], session: Session,
) -> None:
    workspace_client.jobs.delete(provisioned)

    collected = collector(session_factory, workspace_client).collect()

    assert (collected.read, collected.written) == (0, 0)
