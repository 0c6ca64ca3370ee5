"""Logging: JSON lines with bound context, and no secret ever printed."""

from __future__ import annotations

import json
import logging

import structlog

from shared.platform.logging import configure_logging, get_logger, mask_secrets


def test_mask_secrets_hides_passwords_keys_tokens_and_activation_links():
    text = (
        "postgresql://app:s3cret@db:5432/x AccountKey=abc123==; Bearer eyJhbGciOi.x.y dapi0123456789abcdef "
        "https://adb-1.2.azuredatabricks.net/delta_sharing/retrieve_config.html?tok3n"
    )
    masked = mask_secrets(text)
    for secret in ("s3cret", "abc123", "eyJhbGciOi", "0123456789abcdef", "tok3n"):
        assert secret not in masked
    assert "postgresql://app:***@db:5432/x" in masked


def test_json_lines_carry_bound_context_and_mask_secret_fields(capsys):
    configure_logging(json=True, level="INFO")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        get_logger("test").info("share_pack.received", connection_string="postgresql://u:pw@h/db", size=3)
        logging.getLogger("stdlib").warning("plain %s", "postgresql://u:pw@h/db")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "share_pack.received"
    assert lines[0]["request_id"] == "req-1" and lines[0]["size"] == 3
    assert lines[0]["connection_string"] == "***"
    assert lines[1]["request_id"] == "req-1"
    assert "pw" not in lines[1]["event"]


DSN = "postgresql://sharepack:Pa55-w0rd!@db.internal:5432/sharepack"


def _crash_in_a_provisioning_step() -> None:
    """Log a step failure the way the worker does (`log.exception` in `QueueConsumer._handle`)."""

    def create_recipients_step() -> None:
        api_token = "dapi-local-variable-token"  # a local only: locals must never be rendered
        dsn = DSN
        assert api_token
        raise ConnectionError(f"could not record the step: connection to {dsn} failed")

    try:
        create_recipients_step()
    except ConnectionError:
        get_logger("worker.consumer").exception("queue.job_crashed", step="create_recipients")
    try:
        create_recipients_step()
    except ConnectionError:  # a library logging through the standard library, traceback included
        logging.getLogger("sqlalchemy.pool").error("connection failed", exc_info=True)


def _assert_no_secret(output: str) -> None:
    assert "Pa55-w0rd!" not in output
    assert "dapi-local-variable-token" not in output
    assert "sharepack:***@db.internal" in output  # masked, not dropped: the host still helps


def test_a_dsn_raised_inside_a_step_is_masked_in_json_tracebacks_without_locals(capsys):
    configure_logging(json=True, level="INFO")
    _crash_in_a_provisioning_step()
    output = capsys.readouterr().out
    _assert_no_secret(output)
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["event"] for line in lines] == ["queue.job_crashed", "connection failed"]
    for line in lines:
        (exception,) = line["exception"]
        assert exception["exc_type"] == "ConnectionError"
        assert "sharepack:***@db.internal" in exception["exc_value"]
        assert exception["frames"] and all("locals" not in frame for frame in exception["frames"])


def test_a_dsn_raised_inside_a_step_is_masked_on_the_console(capsys):
    configure_logging(json=False, level="INFO")
    _crash_in_a_provisioning_step()
    output = capsys.readouterr().out
    _assert_no_secret(output)
    assert output.count("Traceback (most recent call last)") == 2


def test_secrets_nested_in_fields_and_key_value_dsns_are_masked(capsys):
    configure_logging(json=True, level="INFO")
    get_logger("test").info(
        "workspace.configured",
        target={"dsn": "host=db user=app password=kv-s3cret dbname=x", "client_secret": "cs-s3cret"},
        attempts=[{"url": "https://u:url-s3cret@h/x"}],
    )
    output = capsys.readouterr().out
    for secret in ("kv-s3cret", "cs-s3cret", "url-s3cret"):
        assert secret not in output
    line = json.loads(output)
    assert line["target"]["dsn"] == "host=db user=app password=*** dbname=x"
    assert line["target"]["client_secret"] == "***"
