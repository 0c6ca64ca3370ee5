"""Readiness fails with a reason for each misconfiguration that otherwise looks healthy, and reports the
heartbeats the worker writes. A database of its own (migrated here) keeps other tests' rows out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from alembic import command
from api import create_app
from api.context import Services
from shared.platform.db import make_engine, make_session_factory
from shared.platform.health import CachedHealth, ProcessHeartbeat, check_health, check_readiness, read_heartbeats
from shared.queue.outbox import OutboxPublisher
from shared.queue.postgres import PostgresQueue
from tests.integration.api.conftest import RecordingPublisher, make_settings
from tests.support.postgres import REPO_ROOT, alembic_config, fresh_database_url, migrated_database_url
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def ready_url(postgres_server_url: str) -> str:
    url = migrated_database_url(postgres_server_url, prefix="ready")
    return url


@pytest.fixture
def db(ready_url: str) -> Iterator[Engine]:
    engine = make_engine(ready_url)
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM monitoring.heartbeats"))
    engine.dispose()


@pytest.fixture
def queue(db: Engine) -> PostgresQueue:
    q = PostgresQueue(db, f"ready-{uuid.uuid4().hex[:8]}")
    q.ensure_exists()
    return q


@pytest.fixture
def publisher(db: Engine, queue: PostgresQueue) -> Iterator[OutboxPublisher]:
    running = OutboxPublisher(make_session_factory(db), queue, sweep_interval=60).start()
    yield running
    running.stop()


def test_a_configured_api_with_an_agreeing_worker_is_ready(db, queue, publisher):
    settings = make_settings(azure_queue_name=queue.name)
    beat = ProcessHeartbeat(db, "worker", queue_backend="postgres", queue_name=queue.name, instance="w1").start(60)
    try:
        report = check_readiness(db, settings, publisher=publisher)
    finally:
        beat.stop()
    assert report.problems == ()
    [worker] = report.heartbeats
    assert (worker.service, worker.instance, worker.queue_backend, worker.stale) == ("worker", "w1", "postgres", False)


def test_no_api_keys_means_no_principals(db, publisher):
    report = check_readiness(db, make_settings(api_keys=""), publisher=publisher)
    assert report.problems == ("no principals configured: api_keys is empty, so every request answers 401",)


def test_an_empty_allow_list_without_tenant_regions(db, publisher):
    settings = make_settings(allowed_workspace_urls="", dev_workspace_urls="")
    [problem] = check_readiness(db, settings, publisher=publisher).problems
    assert problem.startswith("no workspace allowed: allowed_workspace_urls is empty")


def test_a_worker_on_another_queue_backend_or_queue(db, queue, publisher):
    settings = make_settings(azure_queue_name=queue.name)
    ProcessHeartbeat(db, "worker", queue_backend="azure", queue_name=queue.name, instance="w-az").record_start()
    [problem] = check_readiness(db, settings, publisher=publisher).problems
    assert problem == "queue backend differs: the API writes to 'postgres', the worker w-az reads 'azure'"

    ProcessHeartbeat(db, "worker", queue_backend="postgres", queue_name="elsewhere", instance="w-pg").record_start()
    [problem] = check_readiness(db, settings, publisher=publisher).problems
    assert problem == f"queue differs: the API writes to {queue.name!r}, the worker w-pg reads 'elsewhere'"


def test_a_stale_worker_is_reported_but_not_compared(db, queue, publisher):
    ProcessHeartbeat(db, "worker", queue_backend="azure", queue_name=queue.name, instance="old").record_start()
    with db.begin() as conn:
        conn.execute(text("UPDATE monitoring.heartbeats SET last_beat_at = now() - interval '10 minutes'"))
    report = check_readiness(db, make_settings(azure_queue_name=queue.name), publisher=publisher)
    assert report.problems == ()
    assert [(b.instance, b.stale) for b in report.heartbeats] == [("old", True)]


def test_a_dead_outbox_publisher(db, publisher):
    publisher.stop()
    [problem] = check_readiness(db, make_settings(), publisher=publisher).problems
    assert problem.startswith("the outbox publisher thread has stopped")


def test_migrations_behind_head(postgres_server_url, publisher):
    url = fresh_database_url(postgres_server_url, prefix="behind")
    command.upgrade(alembic_config(url), "0001")
    engine = make_engine(url)
    try:
        problems = check_readiness(engine, make_settings(), publisher=publisher).problems
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"migrations behind head: database at 0001, code expects {head} (run alembic upgrade head)" in problems


def test_the_ready_route_answers_503_with_every_reason_then_200(db, queue, publisher):
    settings = make_settings(api_keys="", azure_queue_name=queue.name)
    ProcessHeartbeat(db, "worker", queue_backend="azure", queue_name=queue.name, instance="w-az").record_start()

    def app(settings):
        return create_app(
            Services(
                settings,
                session_factory=make_session_factory(db),
                publisher=RecordingPublisher(),
                health_check=CachedHealth(lambda: check_health(db, queue)),
                readiness_check=lambda: check_readiness(db, settings, publisher=publisher),
            ),
        ).test_client()

    response = app(settings).get("/workflow/health/ready")
    assert response.status_code == 503
    assert len(response.json["Problems"]) == 2
    assert response.json["Message"].startswith("Not ready: no principals configured")
    assert response.json["Heartbeats"][0]["Instance"] == "w-az"

    with db.begin() as conn:
        conn.execute(text("UPDATE monitoring.heartbeats SET queue_backend = 'postgres'"))
    response = app(make_settings(azure_queue_name=queue.name)).get("/workflow/health/ready")
    assert response.status_code == 200 and response.json["Message"] == "Ready"


def test_heartbeats_beat_and_the_container_check_reads_them(db, ready_url):
    beat = ProcessHeartbeat(db, "worker", queue_backend="postgres", queue_name="q").start(interval_seconds=0.05)
    try:
        [first] = read_heartbeats(db)
        with db.begin() as conn:  # pretend the last beat was long ago; the thread must refresh it
            conn.execute(text("UPDATE monitoring.heartbeats SET last_beat_at = now() - interval '1 hour'"))
        wait_for(lambda: not read_heartbeats(db)[0].stale, timeout=10, what="a fresh heartbeat")
        assert read_heartbeats(db)[0].last_beat_at >= first.last_beat_at
        assert first.instance == socket.gethostname()

        env = {**os.environ, "DOMAIN_DB_CONNECTION_STRING": ready_url}
        check = [sys.executable, "-m", "shared.platform.health", "heartbeat"]
        fresh = subprocess.run([*check, "worker"], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        missing = subprocess.run([*check, "sync"], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    finally:
        beat.stop()
    assert (fresh.returncode, fresh.stdout.strip()) == (0, "fresh"), fresh.stderr
    assert (missing.returncode, missing.stdout.strip()) == (1, "stale or missing")
