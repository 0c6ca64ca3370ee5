"""`make run`: start the whole local stack on embedded defaults and keep it up until Ctrl-C.

    embedded PostgreSQL (.local/postgres)  ->  alembic upgrade head
    workspace emulator   http://127.0.0.1:8001   (token local-dev-token, state in .local/emulator-state.json)
    API (gunicorn)       http://127.0.0.1:8000   (API keys: local-dev-key, an administrator;
                                                  local-requestor-key, requestor@example.com, a configurator)
    worker               (queue backend: PostgreSQL)

Settings from the environment or `.env` override these defaults (for example QUEUE_BACKEND=azure).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from alembic.config import Config

from alembic import command
from devstack.local_defaults import register_local_defaults
from shared.db import make_engine, make_session_factory, sqlalchemy_url
from shared.embedded_postgres import start_embedded_postgres

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
API_URL = "http://127.0.0.1:8000"
EMULATOR_URL = "http://127.0.0.1:8001"
LOCAL_DEFAULTS = {
    "ENABLE_WORKFLOW": "true",
    "API_KEYS": "local-dev=local-dev-key,requestor@example.com=local-requestor-key",
    "ADMIN_PRINCIPALS": "local-dev",
    "DEV_WORKSPACE_URLS": EMULATOR_URL,
    "DATABRICKS_TOKEN": "local-dev-token",
    "LOG_FORMAT": "console",
    "DATABRICKS_RETRY_TIMEOUT_SECONDS": "60",
}


def main() -> int:
    LOCAL.mkdir(exist_ok=True)
    env = {**LOCAL_DEFAULTS, **os.environ}
    if not env.get("DOMAIN_DB_CONNECTION_STRING") and not env.get("domain_db_connection_string"):
        env["DOMAIN_DB_CONNECTION_STRING"] = start_embedded_postgres(LOCAL / "postgres")
        print("database: embedded PostgreSQL in .local/postgres", flush=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = env["DOMAIN_DB_CONNECTION_STRING"]
    command.upgrade(config, "head")
    engine = make_engine(sqlalchemy_url(env["DOMAIN_DB_CONNECTION_STRING"]))
    if register_local_defaults(make_session_factory(engine), EMULATOR_URL):
        print("registered: tenant Finance on the emulator, project 'Partner analytics'", flush=True)
    engine.dispose()

    python = sys.executable
    children = [
        subprocess.Popen(
            [
                python,
                "-m",
                "emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "8001",
                "--token",
                "local-dev-token",
                "--state-file",
                str(LOCAL / "emulator-state.json"),
            ],
            env=env,
            cwd=ROOT,
        ),
        subprocess.Popen(
            [python, "-m", "gunicorn", "--config", "api/gunicorn.conf.py", "api.wsgi:app"],
            env={**env, "GUNICORN_BIND": "127.0.0.1:8000"},
            cwd=ROOT,
        ),
        subprocess.Popen([python, "-m", "worker"], env=env, cwd=ROOT),
    ]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if _wait_healthy():
        print(
            f"\nready: API {API_URL}/workflow/health  docs {API_URL}/workflow/docs  "
            f"workspace emulator {EMULATOR_URL}  (Ctrl-C stops everything)\n",
            flush=True,
        )
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
    failed = [c.args[2] for c in children if c.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed and not stopping else 0


def _wait_healthy(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{API_URL}/workflow/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    print("warning: the API did not report healthy within a minute; see the logs above", flush=True)
    return False


if __name__ == "__main__":
    sys.exit(main())
