"""Logging: JSON lines with bound context, and no secret ever printed."""

from __future__ import annotations

import json
import logging

import structlog

from shared.logging import configure_logging, get_logger, mask_secrets


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
