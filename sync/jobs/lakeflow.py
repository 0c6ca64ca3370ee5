"""JOB_METRICS and PROJECT_COSTS: the pipeline runs and billing collectors of `shared.use_cases.pipeline_runs`, as
sync jobs.

Both need Databricks credentials; PROJECT_COSTS also a SQL warehouse (``cost_warehouse_id``). Without them a
run records why it did nothing instead of failing every tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient
from sqlalchemy.orm import Session, sessionmaker

from shared.platform.settings import Settings
from shared.platform.status import SyncType
from shared.provisioning.clients import workspace_clients_from_settings
from shared.use_cases.pipeline_runs import JobMetricsCollector, ProjectCostsCollector
from sync.jobs.base import JobContext, JobResult


def clients_from_settings(settings: Settings) -> Callable[[str], WorkspaceClient] | None:
    """Return a client per workspace with the configured credentials; None when there are none."""
    clients = workspace_clients_from_settings(settings, product="sharepack-sync")
    return clients.client if clients is not None else None


@dataclass
class JobMetricsJob:
    collector: JobMetricsCollector | None
    sync_type: SyncType = field(default=SyncType.JOB_METRICS)

    def run(self, context: JobContext) -> JobResult:
        if self.collector is None:
            return JobResult(details={"skipped": "no Databricks credentials configured"})
        collected = self.collector.collect()
        return JobResult(processed=collected.read, created=collected.written,
                         details={"failed_runs": collected.failures})


@dataclass
class ProjectCostsJob:
    collector: ProjectCostsCollector | None
    sync_type: SyncType = field(default=SyncType.PROJECT_COSTS)

    def run(self, context: JobContext) -> JobResult:
        if self.collector is None:
            return JobResult(details={"skipped": "no Databricks credentials, workspace or cost_warehouse_id"})
        collected = self.collector.collect()
        return JobResult(processed=collected.read, created=collected.written)


def job_metrics(settings: Settings, session_factory: sessionmaker[Session]) -> JobMetricsJob:
    client_for = clients_from_settings(settings)
    return JobMetricsJob(JobMetricsCollector(session_factory, client_for) if client_for else None)


def project_costs(settings: Settings, session_factory: sessionmaker[Session]) -> ProjectCostsJob:
    client_for = clients_from_settings(settings)
    # Billing system tables are account-wide: one workspace's warehouse reads every workspace's usage.
    workspace = settings.cost_workspace_url or next(iter(sorted(settings.known_workspace_urls)), None)
    if client_for is None or workspace is None or not settings.cost_warehouse_id:
        return ProjectCostsJob(None)
    return ProjectCostsJob(ProjectCostsCollector(session_factory, client_for, workspace, settings.cost_warehouse_id))
