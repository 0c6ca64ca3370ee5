"""`make run`: start the whole local stack on embedded defaults and keep it up until Ctrl-C.

    embedded PostgreSQL (.local/postgres)  ->  alembic upgrade head
    workspace emulator   http://127.0.0.1:8001   (token local-dev-token, state in .local/emulator-state.json)
    API (gunicorn)       http://127.0.0.1:8000   (API key local-dev-key)
    worker               (queue backend: PostgreSQL)
    sync service         (python -m sync: mails notifications every 5 seconds)
    SMTP server          127.0.0.1:8025 (every message kept as a .eml file in .local/mail/)

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
from cryptography.fernet import Fernet

from alembic import command
from shared.embedded_postgres import start_embedded_postgres

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
API_URL = "http://127.0.0.1:8000"
EMULATOR_URL = "http://127.0.0.1:8001"
LOCAL_DEFAULTS = {
    "ENABLE_WORKFLOW": "true",
    "API_KEYS": "local-dev=local-dev-key",
    "DEV_WORKSPACE_URLS": EMULATOR_URL,
    "DATABRICKS_TOKEN": "local-dev-token",
    "LOG_FORMAT": "console",
    "DATABRICKS_RETRY_TIMEOUT_SECONDS": "60",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "8025",
    "SYNC_SCHEDULE_NOTIFICATIONS": "5",
}


def main() -> int:
    LOCAL.mkdir(exist_ok=True)
    env = {**LOCAL_DEFAULTS, "ACTIVATION_LINK_KEYS": _local_activation_link_key(), **os.environ}
    if not env.get("DOMAIN_DB_CONNECTION_STRING") and not env.get("domain_db_connection_string"):
        env["DOMAIN_DB_CONNECTION_STRING"] = start_embedded_postgres(LOCAL / "postgres")
        print("database: embedded PostgreSQL in .local/postgres", flush=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = env["DOMAIN_DB_CONNECTION_STRING"]
    command.upgrade(config, "head")

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
        subprocess.Popen(
            [python, "-m", "devstack.mailserver", "--port", "8025", "--directory", str(LOCAL / "mail")],
            env=env,
            cwd=ROOT,
        ),
        subprocess.Popen([python, "-m", "sync"], env=env, cwd=ROOT),
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
            f"workspace emulator {EMULATOR_URL}  mail .local/mail/  (Ctrl-C stops everything)\n",
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


def _local_activation_link_key() -> str:
    """The Fernet key of this checkout, made once and kept, so links stored before a restart still decrypt."""
    path = LOCAL / "activation-link-key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


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
