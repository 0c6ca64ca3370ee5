"""The WSGI entry point: `gunicorn --config api/gunicorn.conf.py api.wsgi:app`.

The only production caller of `create_app`: it builds the real collaborators from the environment.
"""

import sys
from functools import partial

from flask import Flask

from api import create_app
from shared.db import database_url, make_engine, make_session_factory
from shared.errors import ConfigurationError
from shared.health import check_health
from shared.logging import configure_logging
from shared.queue.factory import make_queue
from shared.queue.outbox import OutboxPublisher
from shared.settings import Settings


def production_app() -> Flask:
    """The app on the configured database and queue, with its outbox publisher thread running."""
    settings = Settings.from_env()
    configure_logging(json=settings.log_format == "json", level=settings.log_level)
    engine = make_engine(database_url(settings))
    queue = make_queue(settings, engine)
    session_factory = make_session_factory(engine)
    publisher = OutboxPublisher(session_factory, queue, sweep_interval=settings.outbox_relay_interval_seconds)
    return create_app(
        settings,
        session_factory=session_factory,
        publisher=publisher.start(),
        health_check=partial(check_health, engine, queue),
    )


try:
    app = production_app()
except ConfigurationError as exc:
    sys.exit(f"error: {exc}")
