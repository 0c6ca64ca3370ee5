"""Pipeline metrics and project costs, read from the workspaces into `job_metrics` and `project_costs`.

`JobMetricsCollector` reads the runs of every scheduled pipeline's job (``jobs/runs/list``, newest first)
down to the last run it has seen, so each run is read once; `run_id` is unique in `job_metrics`, so a
repeated read adds nothing. A failed run also queues a PIPELINE_FAILURE notification.

`ProjectCostsCollector` runs one statement through the SQL Statement Execution API: daily list cost per
project tag from ``system.billing.usage`` joined with ``system.billing.list_prices`` (the join documented at
https://docs.databricks.com/aws/en/admin/system-tables/pricing), polls until it finishes and reads every
result chunk. Our pipelines and jobs carry the project as the `PROJECT_TAG` tag.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service.jobs import BaseRun, RunResultState
from databricks.sdk.service.sql import StatementParameterListItem, StatementResponse, StatementState
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.models import JobMetric, Notification, Pipeline, Project, ProjectCost, SharePack
from shared.platform.logging import get_logger
from shared.platform.status import NotificationStatus, NotificationType
from shared.provisioning.pipeline_state import PROJECT_TAG

log = get_logger(__name__)

DAILY = "DAILY"
COST_SQL = f"""
SELECT u.custom_tags['{PROJECT_TAG}'] AS project, CAST(u.usage_date AS STRING) AS usage_date,
       SUM(u.usage_quantity) AS dbus,
       SUM(u.usage_quantity * p.pricing.effective_list.default) AS list_cost,
       MAX(p.currency_code) AS currency
FROM system.billing.usage u
JOIN system.billing.list_prices p
  ON p.sku_name = u.sku_name AND p.cloud = u.cloud AND p.usage_unit = u.usage_unit
 AND u.usage_start_time >= p.price_start_time
 AND (p.price_end_time IS NULL OR u.usage_end_time <= p.price_end_time)
WHERE u.custom_tags['{PROJECT_TAG}'] IS NOT NULL AND u.usage_date >= :since
GROUP BY ALL
ORDER BY project, usage_date
"""


class StatementFailed(RuntimeError):
    """The warehouse ran the statement and it failed (HTTP 200 with state FAILED), or it never finished."""


@dataclass(frozen=True)
class Collected:
    """What one collection did."""

    read: int = 0
    written: int = 0
    failures: int = 0


@dataclass
class JobMetricsCollector:
    """Reads new runs of every current scheduled pipeline into `job_metrics`."""

    session_factory: sessionmaker[Session]
    client_for: Callable[[str], WorkspaceClient]

    def collect(self) -> Collected:
        read = written = failures = 0
        for pipeline, workspace_url in self._scheduled_pipelines():
            client = self.client_for(workspace_url)
            with self.session_factory() as session:
                last_seen = session.scalar(
                    select(func.max(cast(JobMetric.run_id, BigInteger)))
                    .where(JobMetric.databricks_pipeline_id == pipeline.databricks_pipeline_id)
                )
            try:
                runs = list(_new_runs(client, int(pipeline.databricks_job_id or 0), last_seen or 0))
            except (NotFound, InvalidParameterValue) as exc:
                # The job was deleted outside the service ("Job N does not exist.", 400 INVALID_PARAMETER_VALUE
                # on jobs/runs/list): drift reports it; the other pipelines' runs are still collected.
                log.warning("job_metrics.job_missing", pipeline=pipeline.pipeline_name, error=str(exc))
                continue
            read += len(runs)
            with self.session_factory.begin() as session:
                for run in reversed(runs):  # oldest first, so the rows read in order
                    inserted = session.execute(
                        insert(JobMetric).values(**_metric(run, pipeline)).on_conflict_do_nothing(
                            index_elements=["run_id"]).returning(JobMetric.run_id)
                    ).scalar_one_or_none()
                    if inserted is None:
                        continue
                    written += 1
                    if _failed(run):
                        failures += 1
                        session.add(_failure_notification(run, pipeline))
        log.info("job_metrics.collected", read=read, written=written, failures=failures)
        return Collected(read, written, failures)

    def _scheduled_pipelines(self) -> list[tuple[Pipeline, str]]:
        with self.session_factory() as session:
            rows = session.execute(
                select(Pipeline, SharePack.workspace_url)
                .join(SharePack, (SharePack.share_pack_id == Pipeline.share_pack_id) & SharePack.is_current)
                .where(Pipeline.is_current, Pipeline.is_deleted.is_(False), Pipeline.databricks_job_id.is_not(None))
            ).all()
            session.expunge_all()
            return [(row[0], row[1]) for row in rows]


def _new_runs(client: WorkspaceClient, job_id: int, last_seen: int) -> Iterator[BaseRun]:
    """Yield the job's finished runs newer than ``last_seen``, newest first (the order the API lists)."""
    for run in client.jobs.list_runs(job_id=job_id, completed_only=True):
        if run.run_id is None or run.run_id <= last_seen:
            return
        yield run


def _failed(run: BaseRun) -> bool:
    result = run.state.result_state if run.state else None
    return result is not None and result is not RunResultState.SUCCESS


def _millis(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None


def _metric(run: BaseRun, pipeline: Pipeline) -> dict[str, object]:
    state = run.state
    result = state.result_state.value if state and state.result_state else "UNKNOWN"
    return {
        "metrics_id": uuid.uuid4(),
        "pipeline_id": pipeline.pipeline_id,
        "databricks_pipeline_id": pipeline.databricks_pipeline_id,
        "pipeline_name": pipeline.pipeline_name,
        "start_time": _millis(run.start_time),
        "end_time": _millis(run.end_time),
        "duration_seconds": (run.run_duration or 0) // 1000,
        "status": result,
        "run_id": str(run.run_id),
        "error_message": (state.state_message or None) if state and _failed(run) else None,
    }


def _failure_notification(run: BaseRun, pipeline: Pipeline) -> Notification:
    message = run.state.state_message if run.state else ""
    result = run.state.result_state.value if run.state and run.state.result_state else "FAILED"
    return Notification(
        notification_type=NotificationType.PIPELINE_FAILURE,
        recipient_email=",".join(pipeline.notification_list) or None,
        subject=f"Pipeline {pipeline.pipeline_name} failed",
        body=f"Run {run.run_id} of pipeline {pipeline.pipeline_name} ended {result}: {message}",
        related_entity_type="pipeline",
        related_entity_id=pipeline.pipeline_id,
        status=NotificationStatus.PENDING,
    )


@dataclass
class ProjectCostsCollector:
    """Reads daily list cost per project tag into `project_costs`."""

    session_factory: sessionmaker[Session]
    client_for: Callable[[str], WorkspaceClient]
    workspace_url: str
    warehouse_id: str
    days: int = 30
    poll_interval_seconds: float = 1.0
    timeout_seconds: float = 600.0

    def collect(self, *, today: date | None = None) -> Collected:
        since = (today or datetime.now(UTC).date()) - timedelta(days=self.days)
        rows = list(self._rows(since))
        written = 0
        with self.session_factory.begin() as session:
            projects = {name.lower(): (pid, tenant) for pid, name, tenant in session.execute(
                select(Project.project_id, Project.project_name, Project.tenant_id).where(Project.is_current))}
            for project, day, _dbus, cost, currency in rows:
                found = projects.get((project or "").lower())
                if found is None or day is None:
                    continue
                start = datetime.fromisoformat(day).replace(tzinfo=UTC)
                amount = Decimal(cost or "0")
                latest = session.scalar(
                    select(ProjectCost.databricks_cost)
                    .where(ProjectCost.project_id == found[0], ProjectCost.period_start == start,
                           ProjectCost.period_type == DAILY)
                    .order_by(ProjectCost.collected_at.desc()).limit(1)
                )
                if latest is not None and Decimal(latest) == amount:
                    continue  # usage rows arrive late (hours): a day is written again only when it changed
                session.add(ProjectCost(
                    project_id=found[0], tenant_id=found[1], period_start=start, period_end=start + timedelta(days=1),
                    period_type=DAILY, databricks_cost=amount, currency=currency or "USD",
                ))
                written += 1
        log.info("project_costs.collected", read=len(rows), written=written)
        return Collected(len(rows), written)

    def _rows(self, since: date) -> Iterator[list[str | None]]:
        """Run the cost statement, poll until it ends, and yield every row of every chunk."""
        client = self.client_for(self.workspace_url)
        response = client.statement_execution.execute_statement(
            statement=COST_SQL, warehouse_id=self.warehouse_id, wait_timeout="30s",
            parameters=[StatementParameterListItem(name="since", value=since.isoformat(), type="DATE")],
        )
        response = self._wait(client, response)
        result = response.result
        while result is not None:
            yield from result.data_array or ()
            if result.next_chunk_index is None:
                return
            result = client.statement_execution.get_statement_result_chunk_n(
                str(response.statement_id), result.next_chunk_index)

    def _wait(self, client: WorkspaceClient, response: StatementResponse) -> StatementResponse:
        deadline = time.monotonic() + self.timeout_seconds
        while response.status and response.status.state in (StatementState.PENDING, StatementState.RUNNING):
            if time.monotonic() > deadline:
                raise StatementFailed(f"statement {response.statement_id} did not finish in {self.timeout_seconds} s")
            time.sleep(self.poll_interval_seconds)  # the API has no push: polling is how a client waits
            response = client.statement_execution.get_statement(str(response.statement_id))
        state = response.status.state if response.status else None
        if state is not StatementState.SUCCEEDED:
            error = response.status.error if response.status else None
            raise StatementFailed(f"cost statement ended {state}: {error.message if error else 'no message'}")
        return response
