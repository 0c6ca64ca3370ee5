"""End to end: the API (in process), Azurite, worker processes (`python -m worker`) and the emulator.

Workers run as real child processes with the same settings a container gets, so tests can SIGTERM or
`kill -9` them. Each test gets its own queue name, so workers of different tests never meet.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api import create_app
from api.context import Services
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES
from shared.platform.db import make_engine, make_session_factory
from shared.platform.health import check_health
from shared.platform.logging import configure_logging
from shared.platform.settings import Settings
from shared.queue.factory import make_queue
from shared.queue.interface import MessageQueue
from shared.queue.outbox import OutboxPublisher
from tests.support.access import register_tenant
from tests.support.postgres import migrated_database_url

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "e2e-api-key-0123456789abcdef01234"


@dataclass
class Stack:
    """One test's stack: an API client, its queue, the emulator and the workers started so far."""

    client: FlaskClient
    emulator: EmulatorControl
    queue: MessageQueue
    worker_env: dict[str, str]
    log_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": self.emulator.url}

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.workers)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"], env={**self.worker_env, **env}, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def upload(self, yaml_text: str, filename: str = "pack.yaml") -> str:
        response = self.client.post(
            "/workflow/sharepack/upload", data={"file": (io.BytesIO(yaml_text.encode()), filename)},
            headers=self.headers, content_type="multipart/form-data",
        )
        assert response.status_code == 202, response.json
        return response.json["SharePackId"]

    def status(self, share_pack_id: str) -> dict[str, Any]:
        return self.client.get(f"/workflow/sharepack/{share_pack_id}", headers=self.headers).json

    def history(self, share_pack_id: str) -> list[dict[str, Any]]:
        return self.client.get(f"/workflow/sharepack/{share_pack_id}/history", headers=self.headers).json["History"]

    def wait_for(
        self, share_pack_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status = self.status(share_pack_id)
        while time.monotonic() < deadline:
            status = self.status(share_pack_id)
            if predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"timed out; last status {status}; worker logs: {self.worker_logs()[-3000:]}")

    def wait_final(self, share_pack_id: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(share_pack_id, lambda s: s["Status"] in ("COMPLETED", "FAILED"), timeout)

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def e2e_database_url(postgres_server_url: str) -> str:
    """A database of this test's own: the emulator is reset per test, so the records must be too."""
    url = migrated_database_url(postgres_server_url, prefix="e2e")
    return url


@pytest.fixture
def engine(e2e_database_url: str) -> Iterator[Engine]:
    engine = make_engine(e2e_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def queue_backend() -> str:
    """The stack's queue backend; a test parametrizes `queue_backend` to run on PostgreSQL too."""
    return "azure"


@pytest.fixture
def stack(
    e2e_database_url: str,
    engine: Engine,
    azurite_connection_string: str,
    emulator: EmulatorControl,
    tmp_path: Path,
    queue_backend: str,
) -> Iterator[Stack]:
    database_url = e2e_database_url
    emulator.seed_tables(DEMO_TABLES)
    queue_name = f"e2e-{uuid.uuid4().hex[:12]}"
    env = {
        "domain_db_connection_string": database_url,
        "queue_backend": queue_backend,
        "azure_queue_connection_string": azurite_connection_string,
        "azure_queue_name": queue_name,
        "api_keys": f"e2e={API_KEY}",
        "admin_principals": "e2e",
        "dev_workspace_urls": emulator.url,
        "log_format": "json",
    }
    settings = Settings.from_env(env, dotenv_path=None)
    queue = make_queue(settings, engine)
    queue.ensure_exists()
    configure_logging(json=True, level="INFO")  # as api/wsgi.py does before building the app
    sessions = make_session_factory(engine)
    register_tenant(sessions, {"EMEA": emulator.url})  # the examples' business line: uploads need a registered tenant
    publisher = OutboxPublisher(sessions, queue, sweep_interval=settings.outbox_relay_interval_seconds).start()
    app = create_app(
        Services(
            settings,
            session_factory=sessions,
            publisher=publisher,
            health_check=partial(check_health, engine, queue),
        ),
    )
    client = app.test_client()
    worker_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_"))},
        **{k.upper(): v for k, v in env.items()},
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "ACTIVATION_LINK_KEYS": Fernet.generate_key().decode(),
        "DATABRICKS_RETRY_TIMEOUT_SECONDS": "15",
        "VISIBILITY_TIMEOUT_SECONDS": "6",
        "TRANSIENT_RETRY_DELAY_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "0.2",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "0.5",
    }
    running = Stack(client=client, emulator=emulator, queue=queue, worker_env=worker_env, log_dir=tmp_path)
    yield running
    running.stop_workers()
    publisher.stop()
