"""The worker's composition root: every dependency is built here, from settings, and nowhere else."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from shared.notifications.activation_links import ActivationLinkCipher
from shared.platform.db import database_url, make_engine, make_session_factory
from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings
from shared.provisioning.clients import WorkspaceClients
from shared.queue.factory import make_queue, poison_queue_name
from shared.queue.outbox import OutboxRelay
from shared.use_cases.publishing import dispatch_for
from shared.use_cases.versions import Requeuer
from worker.consumer import QueueConsumer
from worker.jobs.provision import ProvisioningJob
from worker.jobs.sweep import StuckPackSweeper
from worker.retry_policy import RetryPolicy


@dataclass
class Worker:
    settings: Settings
    consumer: QueueConsumer
    job: ProvisioningJob
    outbox_relay: OutboxRelay
    sweeper: StuckPackSweeper
    stop_requested: threading.Event


def build_worker(settings: Settings | None = None) -> Worker:
    """Build a worker from settings (default: the environment)."""
    settings = settings or Settings.from_env()
    if settings.databricks_credentials is None and not settings.workspace_credentials:
        raise ConfigurationError(
            "Missing setting databricks_token (or azure_client_id and azure_client_secret): "
            "the worker needs credentials for Databricks"
        )
    # D2O activation links are credentials: without a key to encrypt them the worker could not keep them.
    activation_links = ActivationLinkCipher(settings.activation_link_keys)
    engine = make_engine(database_url(settings), application_name="sharepack-worker")
    session_factory = make_session_factory(engine)
    queue = make_queue(settings, engine)
    poison = make_queue(settings, engine, name=poison_queue_name(queue.name))
    for q in (queue, poison):
        q.ensure_exists()
    clients = workspace_clients(settings)
    job = ProvisioningJob(
        session_factory=session_factory,
        engine=engine,
        gateway_for=clients.gateway,
        concurrency=settings.workspace_concurrency,
        activation_links=activation_links,
    )
    stop = threading.Event()
    consumer = QueueConsumer(
        queue=queue,
        poison_queue=poison,
        visibility_timeout=settings.visibility_timeout_seconds,
        max_dequeue_count=settings.max_dequeue_count,
        on_poison=lambda command, reason: command and job.mark_failed(command.share_pack_id, reason),
        stop_requested=stop,
        retry_policy=RetryPolicy(
            base_delay_seconds=settings.transient_retry_delay_seconds,
            max_delay_seconds=settings.transient_retry_max_delay_seconds,
            budget_seconds=settings.transient_retry_budget_seconds,
            busy_delay_seconds=settings.busy_retry_delay_seconds,
        ),
    )
    return Worker(
        settings=settings,
        consumer=consumer,
        job=job,
        outbox_relay=OutboxRelay(session_factory, queue),
        # The worker takes no uploads; what it re-queues the relay publishes (it runs beside the loop).
        sweeper=StuckPackSweeper(
            session_factory,
            Requeuer(dispatch_for(queue, publish=_relayed)),
            stuck_after_seconds=settings.stuck_pack_after_seconds,
        ),
        stop_requested=stop,
    )


def _relayed(_outbox_id: int) -> None:
    """The worker's publisher: its outbox relay thread sends every committed row within its interval."""


def workspace_clients(settings: Settings) -> WorkspaceClients:
    """One SDK client per workspace, with the global or per-workspace credentials from settings."""
    return WorkspaceClients(
        settings.databricks_credentials,
        per_workspace=settings.workspace_credentials,
        retry_timeout_seconds=settings.databricks_retry_timeout_seconds,
        concurrency=settings.workspace_concurrency,
    )
