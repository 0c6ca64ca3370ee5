"""Structured logging, configured once per process.

structlog and the standard library (gunicorn, SQLAlchemy, the Azure SDK) share one pipeline: JSON lines in
production, readable console output in development. Context bound with `bind_contextvars` (a request id in
the API, a job id in the worker) appears on every line. Secrets are masked by a processor, so a connection
string or token passed by mistake never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(password|secret|token|key|authorization|activation|connection_string)", re.I)
_SECRET_IN_TEXT = [
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),  # user:password@ in URLs
    (re.compile(r"(AccountKey|SharedAccessSignature|sig)=[^;&\s]+", re.I), r"\1=***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(dapi)[0-9a-f]{8,}"), r"\1***"),
    (re.compile(r"(retrieve_config\.html\?)\S+"), r"\1***"),
]


def mask_secrets(text: str) -> str:
    """Return `text` with passwords, account keys, bearer tokens and activation links replaced by ***."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _mask_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key in ("level", "timestamp", "logger"):
            continue
        if _SECRET_KEYS.search(key) and value not in (None, "", True, False):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = mask_secrets(value)
    return event


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and stdlib logging through one masked renderer (JSON or console)."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # filter_by_level first: a disabled level costs one check, not the whole processor chain.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer: list[Any] = (
        [structlog.processors.dict_tracebacks, _mask_event, structlog.processors.JSONRenderer()]
        if json
        else [structlog.processors.format_exc_info, _mask_event, structlog.dev.ConsoleRenderer(colors=False)]
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared_processors, structlog.stdlib.ExtraAdder()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    logging.basicConfig(handlers=[handler], level=level, force=True)
    # The Azure SDK logs every HTTP request at INFO, headers included; keep it to warnings.
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("databricks.sdk").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger; event names are dotted snake_case, values go in key-value pairs."""
    return structlog.get_logger(name)
