"""The one place sync jobs are registered: a job type and the factory that builds it from the service's parts.

Later issues add DATABRICKS_OBJECTS here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from shared.drift.sync import DatabricksObjectsSync, workspaces_to_sync
from shared.graph.ad_sync import AdSync
from shared.graph.config import graph_client_from_settings
from shared.notifications.activation_links import ActivationLinkCipher
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.notifications.token_expiry import TokenExpiryWatch
from shared.platform.settings import Settings
from shared.platform.status import SyncType
from shared.provisioning.clients import workspace_clients_from_settings
from shared.provisioning.recipient_tokens import tokens_from_settings
from shared.use_cases.access_expiry import AccessExpiryWatch
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.transitions import Workflow
from sync.jobs import lakeflow
from sync.jobs.access_expiry import AccessExpiryJob
from sync.jobs.ad import AdGroupsJob, AdUsersJob
from sync.jobs.base import Job
from sync.jobs.databricks_objects import DatabricksObjectsJob
from sync.jobs.notifications import NotificationsJob


@dataclass(frozen=True)
class JobParts:
    """What a job factory may use."""

    settings: Settings
    session_factory: sessionmaker[Session]


def _notifications(parts: JobParts) -> Job:
    settings = parts.settings
    return NotificationsJob(
        NotificationDeliverer(
            session_factory=parts.session_factory,
            transport=SmtpTransport.from_settings(settings),
            sender=settings.notification_from,
            cipher=ActivationLinkCipher(settings.activation_link_keys) if settings.activation_link_keys else None,
            max_attempts=settings.notification_max_attempts,
            retry_delay_seconds=settings.notification_retry_delay_seconds,
            console_base_url=settings.console_base_url,
        ),
        expiry_watch=TokenExpiryWatch(parts.session_factory, tokens)
        if (tokens := tokens_from_settings(settings))
        else None,
    )


def _ad_sync(parts: JobParts) -> AdSync | None:
    client = graph_client_from_settings(parts.settings)
    if client is None:
        return None
    return AdSync(parts.session_factory, client, admin_groups=parts.settings.admin_groups)


def _databricks_objects(parts: JobParts) -> Job:
    settings, sessions = parts.settings, parts.session_factory

    def workspaces() -> list[str]:
        with sessions() as session:
            return workspaces_to_sync(session, settings)

    clients = workspace_clients_from_settings(settings)
    sync = DatabricksObjectsSync(sessions, reader_for=clients.gateway) if clients else None
    return DatabricksObjectsJob(sync, workspaces)


def _access_expiry(parts: JobParts) -> Job:
    # The revoking version's outbox row is sent by the workers' outbox relay: this process has no queue client.
    workflow = Workflow(parts.session_factory, ViaOutbox(parts.settings.azure_queue_name, publish=lambda _id: None))
    return AccessExpiryJob(AccessExpiryWatch(parts.session_factory, workflow))


JOBS: dict[SyncType, Callable[[JobParts], Job]] = {
    SyncType.NOTIFICATIONS: _notifications,
    SyncType.AD_USERS: lambda parts: AdUsersJob(_ad_sync(parts)),
    SyncType.AD_GROUPS: lambda parts: AdGroupsJob(_ad_sync(parts)),
    SyncType.JOB_METRICS: lambda parts: lakeflow.job_metrics(parts.settings, parts.session_factory),
    SyncType.PROJECT_COSTS: lambda parts: lakeflow.project_costs(parts.settings, parts.session_factory),
    SyncType.DATABRICKS_OBJECTS: _databricks_objects,
    SyncType.ACCESS_EXPIRY: _access_expiry,
}

# The schedule setting of each job type (an interval in seconds or a cron expression).
SCHEDULE_SETTING: dict[SyncType, str] = {
    SyncType.NOTIFICATIONS: "sync_schedule_notifications",
    SyncType.AD_USERS: "sync_schedule_ad_users",
    SyncType.AD_GROUPS: "sync_schedule_ad_groups",
    SyncType.JOB_METRICS: "sync_schedule_job_metrics",
    SyncType.PROJECT_COSTS: "sync_schedule_project_costs",
    SyncType.DATABRICKS_OBJECTS: "sync_schedule_databricks_objects",
    SyncType.ACCESS_EXPIRY: "sync_schedule_access_expiry",
}


def build_jobs(parts: JobParts) -> dict[SyncType, Job]:
    return {sync_type: factory(parts) for sync_type, factory in JOBS.items()}
