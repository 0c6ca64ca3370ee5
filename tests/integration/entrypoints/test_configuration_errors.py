"""Every entry point refuses a bad setting with one line naming it, an exit code, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.lower().startswith(("queue_", "azure_", "domain_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [["-m", "worker"], ["-m", "sync"], ["-c", "import api.wsgi"], ["-m", "alembic", "upgrade", "head"]],
    ids=["worker", "sync", "api", "alembic"],
)
def test_a_bad_setting_stops_the_process_with_one_line(args):
    result = run(args, QUEUE_BACKEND="azure", DOMAIN_DB_CONNECTION_STRING="postgresql://u:secret@db/x")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "azure_queue_connection_string" in line]
    assert lines == ["error: Missing setting azure_queue_connection_string: required when queue_backend is 'azure'"]
    assert "secret" not in result.stderr + result.stdout


def test_a_malformed_value_names_the_setting():
    result = run(["-m", "worker"], MAX_DEQUEUE_COUNT="many")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Invalid setting max_dequeue_count: expected a whole number, got 'many'"
    )


def test_the_worker_refuses_to_start_without_databricks_credentials(database_url):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("DATABRICKS_", "ARM_", "AZURE_CLIENT"))}
    result = subprocess.run(
        [sys.executable, "-m", "worker"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**env, "DOMAIN_DB_CONNECTION_STRING": database_url},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: Missing setting databricks_token")


def test_the_worker_refuses_to_start_without_a_key_for_activation_links(database_url):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ACTIVATION_LINK_KEYS")}
    result = subprocess.run(
        [sys.executable, "-m", "worker"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**env, "DOMAIN_DB_CONNECTION_STRING": database_url, "DATABRICKS_TOKEN": "dapi-test"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: Missing setting activation_link_keys")


def test_a_malformed_schedule_or_key_names_the_setting():
    result = run(["-m", "sync"], SYNC_SCHEDULE_NOTIFICATIONS="every minute")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: Invalid setting sync_schedule_notifications:")
    result = run(["-m", "sync"], ACTIVATION_LINK_KEYS="not-a-key")
    assert result.stderr.strip().splitlines()[-1].startswith("error: Invalid setting activation_link_keys:")


def test_the_api_refuses_to_start_in_production_without_a_console_key(database_url):
    """One random key per gunicorn worker would refuse sessions made by the others, and end all at a restart."""
    result = run(["-c", "import api.wsgi"], **{**PRODUCTION_API, "DOMAIN_DB_CONNECTION_STRING": database_url},
                 CONSOLE_SECRET_KEY="")  # an empty setting is an unset one
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: Missing setting CONSOLE_SECRET_KEY: the API requires it when deployment is 'production'"
    )


# Everything the API's settings contract requires in production, but its console key.
PRODUCTION_API = {
    "DEPLOYMENT": "production",
    "QUEUE_BACKEND": "azure",
    "AZURE_QUEUE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    "API_KEYS": "ops=a-long-enough-key",
    "ACTIVATION_LINK_KEYS": "x8Yh0VQxkqzC6c4Zb3V2F6b3f8VqUQm7Zq2cJrJ0l3E=",
    "ALLOWED_WORKSPACE_URLS": "https://adb-1234567890123456.7.azuredatabricks.net",
    "DATABRICKS_TOKEN": "dapi-test",
}


def test_a_production_worker_without_a_required_setting_names_the_variable(database_url):
    """Each process checks its own contract at start: the worker has no activation-link key here."""
    env = {**PRODUCTION_API, "DOMAIN_DB_CONNECTION_STRING": database_url, "ACTIVATION_LINK_KEYS": ""}
    result = run(["-m", "worker"], **env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Missing setting ACTIVATION_LINK_KEYS: the worker requires it when deployment is 'production' "
        "(shared/platform/settings_contract.py lists what each process needs)"
    ]


def test_a_production_sync_service_names_every_missing_variable(database_url):
    """Without these the sync service would mail 127.0.0.1:8025 and skip AD sync, silently."""
    result = run(["-m", "sync"], **{**PRODUCTION_API, "DOMAIN_DB_CONNECTION_STRING": database_url})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Missing setting AZURE_TENANT_ID, CONSOLE_BASE_URL, GRAPH_CLIENT_ID, "
                           "NOTIFICATION_FROM, OPERATOR_EMAILS, SMTP_HOST, SMTP_PORT: the sync service requires them")


def test_an_unknown_deployment_names_the_setting():
    result = run(["-c", "import api.wsgi"], DEPLOYMENT="staging")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Invalid setting deployment: expected 'development' or 'production'"
    )
