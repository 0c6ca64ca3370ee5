"""The API on the real PostgreSQL: each test's app works inside one transaction that is rolled back afterwards.

`app_factory` builds the app with the suite's `session_factory` (sessions joined to an outer transaction,
SQLAlchemy's "Joining a Session into an External Transaction" recipe) and a `RecordingPublisher`, so API
tests leave nothing in the shared database. Tests about the outbox after commit use `committing_sessions`
and `real_publisher` instead: the real `OutboxPublisher` and the PostgreSQL queue (Azurite is covered by
the queue contract tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.context import HealthCheck, Publisher, Services
from shared.platform.db import make_engine, make_session_factory
from shared.platform.health import check_health
from shared.platform.logging import configure_logging
from shared.platform.settings import Settings
from shared.queue.interface import MessageQueue
from shared.queue.outbox import OutboxPublisher
from shared.queue.postgres import PostgresQueue
from tests.support.access import register_tenant
from tests.support.api_keys import stored_api_keys
from tests.support.postgres import migrated_database_url

API_KEY = "test-api-key-0123456789abcdef01234"
AZURE_WORKSPACE = "https://adb-1234567890123456.7.azuredatabricks.net"
LOCAL_WORKSPACE = "http://127.0.0.1:8001"


def make_settings(**overrides: str) -> Settings:
    env = {
        "api_keys": f"tester={API_KEY}",
        "admin_principals": "tester",
        "allowed_workspace_urls": AZURE_WORKSPACE,
        "dev_workspace_urls": LOCAL_WORKSPACE,
        "queue_backend": "postgres",
        "domain_db_connection_string": "postgresql://unused/unused",
        "log_format": "json",
        **overrides,
    }
    env["api_keys"] = stored_api_keys(env["api_keys"])
    return Settings.from_env(env, dotenv_path=None)


class RecordingPublisher:
    """Remembers the outbox ids the API hands over after each commit (what the real publisher would send)."""

    def __init__(self) -> None:
        self.notified: list[int] = []

    def notify(self, outbox_id: int) -> None:
        self.notified.append(outbox_id)


def health_of(engine: Engine, queue: MessageQueue) -> HealthCheck:
    return partial(check_health, engine, queue)


@pytest.fixture
def queue(engine: Engine) -> PostgresQueue:
    """A queue of its own per test, so counts and messages belong to this test only."""
    q = PostgresQueue(engine, f"test-{uuid.uuid4().hex[:12]}")
    q.ensure_exists()
    return q


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def committing_sessions(postgres_server_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit, for the few tests about what happens after a commit: on a database of
    their own, since what they commit (packs, history, outbox rows) would be seen by every later test."""
    engine = make_engine(migrated_database_url(postgres_server_url, prefix="commit"))
    sessions = make_session_factory(engine)
    register_tenant(sessions, {"EMEA": LOCAL_WORKSPACE, "AM": AZURE_WORKSPACE})
    yield sessions
    engine.dispose()


@pytest.fixture(autouse=True)
def example_tenant(request: pytest.FixtureRequest) -> None:
    """The examples' business line, registered on both test workspaces, so uploads are admitted."""
    if "committing_sessions" in request.fixturenames:
        return  # registered and removed by `committing_sessions` itself
    sessions = request.getfixturevalue("session_factory")
    register_tenant(sessions, {"EMEA": LOCAL_WORKSPACE, "AM": AZURE_WORKSPACE})


@pytest.fixture
def real_publisher(committing_sessions: sessionmaker[Session]) -> Iterator[Callable[[MessageQueue], Publisher]]:
    """Starts real outbox publisher threads on committing sessions; stops them after the test."""
    started: list[OutboxPublisher] = []

    def start(queue: MessageQueue) -> Publisher:
        started.append(OutboxPublisher(committing_sessions, queue, sweep_interval=60).start())
        return started[-1]

    yield start
    for publisher in started:
        publisher.stop()


@pytest.fixture
def app_factory(
    engine: Engine,
    queue: PostgresQueue,
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
) -> Callable[..., FlaskClient]:
    """`build(settings=None, **collaborators)`: a test client; any collaborator can be replaced."""

    def build(settings: Settings | None = None, **collaborators: Any) -> FlaskClient:
        defaults: dict[str, Any] = {
            "session_factory": session_factory,
            "publisher": publisher,
            "health_check": health_of(engine, queue),
        }
        settings = settings or make_settings(azure_queue_name=queue.name)
        # As api/wsgi.py does: the app logs through our masked pipeline, not structlog's defaults.
        configure_logging(json=settings.log_format == "json", level=settings.log_level)
        app = create_app(Services(settings, **defaults | collaborators))
        return app.test_client()

    return build


@pytest.fixture
def client(app_factory: Callable[..., FlaskClient]) -> FlaskClient:
    return app_factory()


@pytest.fixture
def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": LOCAL_WORKSPACE}
