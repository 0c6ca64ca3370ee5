"""The WSGI entry point: `gunicorn --config api/gunicorn.conf.py api.wsgi:app`.

The only production caller of `create_app`: it builds the real collaborators from the environment.
"""

import gc
import sys
from collections.abc import Callable
from functools import partial

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api import create_app
from api.context import Services
from shared.graph.config import graph_client_from_settings
from shared.graph.validator import AdValidator
from shared.notifications.activation_links import ActivationLinkCipher
from shared.platform.db import database_url, make_engine, make_session_factory, verify_schema
from shared.platform.errors import ConfigurationError
from shared.platform.health import CachedHealth, check_health, check_readiness
from shared.platform.logging import configure_logging, get_logger
from shared.platform.settings import Settings
from shared.platform.settings_contract import require_settings
from shared.preflight import CachedReaders, CatalogReader
from shared.preflight.cache import DEFAULT_TTL_SECONDS as DIRECTORY_CACHE_SECONDS
from shared.provisioning.clients import workspace_clients_from_settings
from shared.provisioning.recipient_tokens import tokens_from_settings
from shared.queue.factory import make_queue
from shared.queue.outbox import OutboxPublisher
from shared.use_cases.publishing import dispatch_for


def production_app() -> Flask:
    """The app on the configured database and queue, with its outbox publisher thread running."""
    require_settings("api")
    settings = Settings.from_env()
    configure_logging(json=settings.log_format == "json", level=settings.log_level)
    engine = make_engine(database_url(settings), application_name="sharepack-api")
    queue = make_queue(settings, engine)
    session_factory = make_session_factory(engine)
    publisher = OutboxPublisher(session_factory, queue, sweep_interval=settings.outbox_relay_interval_seconds)
    _log_startup(settings, engine)
    app = create_app(
        Services(
            settings,
            session_factory=session_factory,
            publisher=publisher.start(),
            # The PostgreSQL queue is written in the upload's own transaction; Azure's through the outbox.
            dispatch=dispatch_for(queue, publisher.notify),
            health_check=CachedHealth(partial(check_health, engine, queue)),
            readiness_check=partial(check_readiness, engine, settings, publisher=publisher),
            recipient_tokens=tokens_from_settings(settings),
            activation_links=ActivationLinkCipher(keys) if (keys := settings.activation_link_keys) else None,
            # Without Graph settings it checks the synced tables only and warns about what it could not check.
            directory_validator=AdValidator(graph_client_from_settings(settings),
                                            budget_seconds=settings.graph_validation_budget_seconds,
                                            cache_seconds=DIRECTORY_CACHE_SECONDS),
            reader_for=_workspace_readers(settings),
        ),
    )
    # What was loaded so far (~280k objects: the libraries, the app) lives as long as the process: take it out
    # of the garbage collector's view, or every full collection walks it again, a pause of 100-200 ms in some
    # request (https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.freeze()
    return app


def _log_startup(settings: Settings, engine: Engine) -> None:
    """The startup lines the seed's operators look for, as structured events with these messages."""
    log = get_logger("api")
    if settings.enable_workflow:
        log.info("Workflow system enabled")
    try:
        report = verify_schema(engine)
    except SQLAlchemyError:
        log.warning("Workflow tables not verified: database unreachable")
        return
    if report.ok:
        log.info(f"All {report.table_count} workflow tables verified successfully")
    else:
        log.warning(report.message, missing_tables=list(report.missing_tables))


def _workspace_readers(settings: Settings) -> Callable[[str], CatalogReader] | None:
    """Read-only workspace access for the pre-flight; None when no Databricks credentials are configured."""
    clients = workspace_clients_from_settings(
        settings,
        product="sharepack-api",
        # a pre-flight read must not outlive the request by much: it is skipped, not waited out
        retry_timeout_seconds=max(5, int(settings.preflight_budget_seconds * 10)),
    )
    if clients is None:
        return None
    return CachedReaders(clients.gateway, concurrency=settings.workspace_concurrency)


try:
    app = production_app()
except ConfigurationError as exc:
    sys.exit(f"error: {exc}")
