"""Each process's settings contract, as its entry point applies it at start."""

from __future__ import annotations

import pytest

from shared.platform.errors import ConfigurationError
from shared.platform.settings_contract import PROCESS_SETTINGS, require_settings

KEY = "x8Yh0VQxkqzC6c4Zb3V2F6b3f8VqUQm7Zq2cJrJ0l3E="
WORKER = {
    "DEPLOYMENT": "production",
    "DOMAIN_DB_CONNECTION_STRING": "postgresql://u:p@db/x",
    "QUEUE_BACKEND": "azure",
    "AZURE_QUEUE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    "ALLOWED_WORKSPACE_URLS": "https://adb-1234567890123456.7.azuredatabricks.net",
    "ACTIVATION_LINK_KEYS": KEY,
    "AZURE_CLIENT_ID": "client",
    "AZURE_CLIENT_SECRET": "secret",
    "AZURE_TENANT_ID": "tenant",
}


def test_a_complete_production_worker_starts():
    require_settings("worker", WORKER, dotenv_path=None)


def test_a_missing_setting_is_named_by_its_variable():
    with pytest.raises(ConfigurationError, match=r"^Missing setting ACTIVATION_LINK_KEYS: the worker requires it"):
        require_settings("worker", {**WORKER, "ACTIVATION_LINK_KEYS": " "}, dotenv_path=None)  # blank is unset


def test_databricks_credentials_are_one_of_three_forms():
    service_principal = {k: v for k, v in WORKER.items() if not k.startswith("AZURE_CLIENT")}
    with pytest.raises(ConfigurationError) as error:
        require_settings("worker", service_principal, dotenv_path=None)
    assert "DATABRICKS_TOKEN or AZURE_CLIENT_ID and AZURE_CLIENT_SECRET and AZURE_TENANT_ID or " \
           "WORKSPACE_CREDENTIALS" in str(error.value)
    require_settings("worker", {**service_principal, "DATABRICKS_TOKEN": "dapi-x"}, dotenv_path=None)


def test_names_are_matched_case_insensitively_as_settings_are():
    require_settings("worker", {k.lower(): v for k, v in WORKER.items()}, dotenv_path=None)


def test_development_is_not_held_to_the_production_contract():
    """`make run` and the tests start processes on the defaults (embedded PostgreSQL, local SMTP)."""
    require_settings("sync", {}, dotenv_path=None)
    require_settings("sync", {"DEPLOYMENT": "development"}, dotenv_path=None)


def test_every_process_has_a_contract():
    assert set(PROCESS_SETTINGS) == {"api", "worker", "sync", "migrate"}
