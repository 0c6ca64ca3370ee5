"""Settings: names are case-insensitive, defaults are sensible, and a bad value names the setting."""

from __future__ import annotations

import pytest

from shared.platform.api_keys import hash_api_key, matches
from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=None)


def test_defaults_run_locally_without_any_setting():
    s = settings()
    assert s.enable_workflow is True
    assert s.domain_db_connection_string is None  # the embedded PostgreSQL
    assert s.queue_backend == "postgres"
    assert s.azure_queue_name == "sharepack-processing"


def test_names_are_case_insensitive_and_keep_the_original_systems_names():
    s = settings(
        ENABLE_WORKFLOW="false",
        Domain_Db_Connection_String="postgresql://u:p@db:5432/app",
        AZURE_QUEUE_CONNECTION_STRING="UseDevelopmentStorage=true",
        azure_queue_name="packs",
    )
    assert s.enable_workflow is False
    assert s.domain_db_connection_string == "postgresql://u:p@db:5432/app"
    assert s.queue_backend == "azure"  # chosen because a queue connection string is set
    assert s.azure_queue_name == "packs"


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("azure_queue_name=from-file\nmax_dequeue_count=7\n")
    s = Settings.from_env({"AZURE_QUEUE_NAME": "from-env"}, dotenv_path=str(dotenv))
    assert s.azure_queue_name == "from-env"
    assert s.max_dequeue_count == 7


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"enable_workflow": "maybe"}, "Invalid setting enable_workflow: expected true or false"),
        ({"domain_db_connection_string": "mysql://x"}, "Invalid setting domain_db_connection_string"),
        ({"queue_backend": "kafka"}, "Invalid setting queue_backend"),
        ({"queue_backend": "azure"}, "Missing setting azure_queue_connection_string"),
        ({"azure_queue_name": "Bad_Name"}, "Invalid setting azure_queue_name"),
        ({"max_dequeue_count": "0"}, "Invalid setting max_dequeue_count: expected a number above 0"),
        ({"max_dequeue_count": "2.5"}, "Invalid setting max_dequeue_count: expected a whole number, got '2.5'"),
        ({"poll_interval_seconds": "soon"}, "Invalid setting poll_interval_seconds: expected a number, got 'soon'"),
        ({"poll_interval_seconds": "-1"}, "Invalid setting poll_interval_seconds: expected a number above 0"),
        (
            {"notification_retry_delay_seconds": "-1"},
            "Invalid setting notification_retry_delay_seconds: expected a number of 0 or more, got -1",
        ),
        ({"smtp_port": "70000"}, "Invalid setting smtp_port: expected a TCP port"),
        ({"allowed_workspace_urls": "https://evil.example.com"}, "Invalid setting allowed_workspace_urls"),
        ({"dev_workspace_urls": "http://10.0.0.5:8001"}, "is not a loopback URL"),
        ({"api_keys": "short"}, "Invalid setting api_keys"),
        ({"auth_mode": "entra"}, "Missing setting entra_tenant_id"),
        ({"workspace_credentials": "{not json"}, "Invalid setting workspace_credentials"),
        (
            {"transient_retry_delay_seconds": "60", "transient_retry_max_delay_seconds": "30"},
            "Invalid setting transient_retry_max_delay_seconds",
        ),
        ({"stuck_pack_after_seconds": "600"}, "Invalid setting stuck_pack_after_seconds: must exceed"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_setting(env, message):
    with pytest.raises(ConfigurationError) as info:
        settings(**env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_numbers_within_their_range_are_parsed():
    s = settings(max_dequeue_count="3", poll_interval_seconds="0.25", notification_retry_delay_seconds="0")
    assert (s.max_dequeue_count, s.poll_interval_seconds, s.notification_retry_delay_seconds) == (3, 0.25, 0)


def test_workspace_url_lists_are_split_on_commas_and_spaces_and_normalised():
    s = settings(
        allowed_workspace_urls="https://adb-1.2.azuredatabricks.net/, https://ADB-3.4.azuredatabricks.net",
        dev_workspace_urls="http://127.0.0.1:8001 http://localhost:8002",
    )
    assert s.allowed_workspace_urls == ("https://adb-1.2.azuredatabricks.net", "https://adb-3.4.azuredatabricks.net")
    assert s.dev_workspace_urls == ("http://127.0.0.1:8001", "http://localhost:8002")


def test_api_keys_are_kept_only_as_salted_hashes():
    stored = hash_api_key("a-stored-secret-key-0123456789abcdef")
    s = settings(api_keys=f"ci-bot=a-long-secret-key-0123456789abcdef, local={stored}")
    assert [k.name for k in s.api_keys] == ["ci-bot", "local"]
    assert matches("a-long-secret-key-0123456789abcdef", s.api_keys[0].key_hash)
    assert s.api_keys[1].key_hash == stored and matches("a-stored-secret-key-0123456789abcdef", stored)
    assert "a-long-secret-key-0123456789abcdef" not in repr(s)
    # Each key has its own salt: the same key stored twice gives two different forms.
    assert hash_api_key("a-long-secret-key-0123456789abcdef") != hash_api_key("a-long-secret-key-0123456789abcdef")


@pytest.mark.parametrize("entry", ["ci=short-key-of-31-characters-xx", "ci=sha256:" + "ab" * 32, "ci=scrypt:00:11"])
def test_short_keys_and_unsalted_or_malformed_hashes_are_refused(entry):
    with pytest.raises(ConfigurationError, match="Invalid setting api_keys"):
        settings(api_keys=entry)


def test_connection_strings_keys_and_secrets_stay_out_of_repr():
    s = settings(
        domain_db_connection_string="postgresql://app:db-pa55word@db:5432/sharepack",
        queue_backend="azure",
        azure_queue_connection_string="DefaultEndpointsProtocol=https;AccountName=a;AccountKey=queue-k3y==",
        api_keys="ci-bot=a-long-secret-key-0123456789abcdef",
        azure_client_id="app-id",
        azure_client_secret="client-s3cret",
    )
    shown = repr(s)
    for secret in ("db-pa55word", "queue-k3y", s.api_keys[0].key_hash, "client-s3cret"):
        assert secret not in shown
    assert "queue_backend='azure'" in shown  # the rest of the settings is still there to read


def test_workspace_urls_are_normalised_and_credentials_resolve_per_workspace():
    s = settings(
        allowed_workspace_urls="https://ADB-123.4.azuredatabricks.net/",
        dev_workspace_urls="http://127.0.0.1:8001",
        databricks_token="global-token",
        workspace_credentials='{"https://adb-123.4.azuredatabricks.net": {"token": "ws-token"}}',
    )
    assert s.known_workspace_urls == {"https://adb-123.4.azuredatabricks.net", "http://127.0.0.1:8001"}
    assert s.workspace_credentials["https://adb-123.4.azuredatabricks.net"].token == "ws-token"
    assert s.databricks_credentials.token == "global-token"
    assert "global-token" not in repr(s) and "ws-token" not in repr(s)


def test_incomplete_or_double_credentials_fail_at_start():
    with pytest.raises(ConfigurationError, match="Invalid setting databricks_token/azure_client_"):
        settings(azure_client_id="only-the-id")
    with pytest.raises(ConfigurationError, match="Invalid setting workspace_credentials"):
        settings(workspace_credentials='{"https://adb-1.2.azuredatabricks.net": {"token": "t", "azure_client_id": "i"}}')  # noqa: E501


CONSOLE_ENTRA = {
    "console_entra_client_id": "console-app",
    "console_entra_client_secret": "s3cret-value",
    "console_entra_authority": "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/",
    "console_entra_redirect_uri": "https://sharepack.example.com/console/sign-in/microsoft/callback",
}


def test_console_entra_sign_in_is_configured_by_its_client_id_and_keeps_the_secret_out_of_repr():
    settings = Settings.from_env(CONSOLE_ENTRA, dotenv_path=None)
    assert settings.console_entra_configured
    assert settings.console_entra_authority == CONSOLE_ENTRA["console_entra_authority"].rstrip("/")
    assert "s3cret-value" not in repr(settings)
    assert not Settings.from_env({}, dotenv_path=None).console_entra_configured


@pytest.mark.parametrize(("changes", "message"), [
    ({"console_entra_client_secret": ""}, "Missing setting console_entra_client_secret"),
    ({"console_entra_authority": "https://login.microsoftonline.com/common"}, "expected https://login"),
    ({"console_entra_authority": "https://login.microsoftonline.com"}, "Invalid setting console_entra_authority"),
    ({"console_entra_authority": "http://login.example.com/tenant"}, "https is required off loopback"),
])
def test_console_entra_settings_are_checked_at_start(changes, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**CONSOLE_ENTRA, **changes}, dotenv_path=None)


def test_console_entra_may_use_plain_http_on_loopback_only():
    local = {**CONSOLE_ENTRA, "console_entra_authority": "http://127.0.0.1:8002/00000000-0000-0000-0000-00000000000a"}
    assert Settings.from_env(local, dotenv_path=None).console_entra_configured
