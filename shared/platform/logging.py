"""Structured logging, configured once per process.

structlog and the standard library (gunicorn, SQLAlchemy, the Azure SDK) share one pipeline: JSON lines in
production, readable console output in development. Context bound with `bind_contextvars` (a request id in
the API, a job id in the worker) appears on every line, and so do the `trace_id` and `span_id` of the
OpenTelemetry span the line was written in (`shared.platform.tracing`): Application Insights shows them as the
request's `OperationId` and `Id`, so a line and its request join in one query. This stdout output is the
only way logs leave the process (see `shared.platform.tracing` for why they do not go through OpenTelemetry).

Secrets never reach the output: the last processor before the renderer masks every string of the event,
nested ones included, after the exception has been rendered into it (as a string on the console, as a list
of frame dicts in JSON), so a password in an exception message is masked like one in a field. Tracebacks
carry no frame locals: any local may hold a credential, and no masking pattern can know them all.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
import structlog.tracebacks
from opentelemetry import trace

_SECRET_KEYS = re.compile(r"(password|secret|token|key|authorization|activation|connection_string)", re.I)
_SECRET_IN_TEXT = [
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),  # user:password@ in URLs
    # key=value DSNs (libpq: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING)
    (re.compile(r"\b(password|passwd|pwd|client_secret)(\s*=\s*)('[^']*'|[^\s;&'\"]+)", re.I), r"\1\2***"),
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


_NOT_MASKED = frozenset({"level", "timestamp", "logger"})
_MAX_MASK_DEPTH = 20  # exception chains render as nested lists of dicts; anything deeper is dropped


def _mask_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Mask secret-named fields and secrets inside every string, at any depth (rendered tracebacks too)."""
    for key, value in event.items():
        if key not in _NOT_MASKED:
            event[key] = _masked(key, value, 0)
    return event


def mask_field(key: str, value: Any) -> Any:
    """`value` masked as the field `key` of a log line is: all of it under a secret's name, else what it hides."""
    return _masked(key, value, 0)


def _add_trace_context(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The W3C trace and span id of the current span, as Application Insights and `traceparent` spell them."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(span_context.trace_id))
        event.setdefault("span_id", trace.format_span_id(span_context.span_id))
    return event


def _masked(key: object, value: Any, depth: int) -> Any:
    if isinstance(key, str) and _SECRET_KEYS.search(key) and value not in (None, "", True, False):
        return "***"
    if isinstance(value, str):
        return mask_secrets(value)
    if depth >= _MAX_MASK_DEPTH:
        return "…" if isinstance(value, dict | list | tuple) else value
    if isinstance(value, dict):
        return {k: _masked(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(None, item, depth + 1) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_secrets(str(value))  # an object: the renderer would print its str() or repr() anyway


# structlog's `dict_tracebacks` renders each frame's locals; ours never does.
_json_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and stdlib logging through one masked renderer (JSON or console)."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_context,
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
        [_json_tracebacks, _mask_event, structlog.processors.JSONRenderer()]
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
