"""The API on the real database and the real PostgreSQL queue (Azurite is covered by the queue contract tests)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from shared.queue.postgres import PostgresQueue
from shared.settings import Settings

API_KEY = "test-api-key-0123"
AZURE_WORKSPACE = "https://adb-1234567890123456.7.azuredatabricks.net"
LOCAL_WORKSPACE = "http://127.0.0.1:8001"


def make_settings(**overrides: str) -> Settings:
    env = {
        "api_keys": f"tester={API_KEY}",
        "allowed_workspace_urls": AZURE_WORKSPACE,
        "dev_workspace_urls": LOCAL_WORKSPACE,
        "queue_backend": "postgres",
        "domain_db_connection_string": "postgresql://unused/unused",
        "log_format": "json",
        **overrides,
    }
    return Settings.from_env(env, dotenv_path=None)


@pytest.fixture
def queue(engine) -> PostgresQueue:
    """A queue of its own per test, so counts and messages belong to this test only."""
    q = PostgresQueue(engine, f"test-{uuid.uuid4().hex[:12]}")
    q.ensure_exists()
    return q


@pytest.fixture
def app_factory(engine, queue) -> Iterator[Callable[..., FlaskClient]]:
    apps: list[Flask] = []

    def build(settings: Settings | None = None, **kwargs) -> FlaskClient:
        settings = settings or make_settings(azure_queue_name=queue.name)
        app = create_app(settings, engine=kwargs.pop("engine", engine), queue=kwargs.pop("queue", queue))
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:  # each app runs an outbox publisher thread
        app.extensions["sharepack"].publisher.stop()


@pytest.fixture
def client(app_factory) -> FlaskClient:
    return app_factory()


@pytest.fixture
def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": LOCAL_WORKSPACE}
