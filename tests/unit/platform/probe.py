"""Run as a child process (`python -m tests.unit.platform.probe`): one process configured for Application
Insights as production is, its exports turned into envelopes by the exporter's own conversion.

OpenTelemetry allows one tracer provider per process, hence a process of its own. Nothing is sent: the
Azure Monitor exporter behind our masking exporter is replaced by a recorder that calls the same conversion
functions `AzureMonitorTraceExporter.export` and `AzureMonitorLogExporter.export` call, and prints what they
made as the last line of stdout. Above it are the process's own log lines (JSON, as in production).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor

from shared.platform import tracing
from shared.platform.logging import configure_logging, get_logger
from shared.platform.settings import Settings
from tests.support.telemetry import EnvelopeRecorder

# What the parent asserts never leaves the process unmasked.
STORAGE_KEY = "c2VjcmV0LXN0b3JhZ2Uta2V5LW5vdC1yZWFs"
CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=https;AccountName=stsharepack;AccountKey={STORAGE_KEY};EndpointSuffix=core.windows.net"
)
CLIENT_SECRET = "Zx8Q~not-a-real-client-secret-4711"
DATABASE_PASSWORD = "pg-Passw0rd-not-real"
DATABASE_URL = f"postgresql://sharepack:{DATABASE_PASSWORD}@db.example.com:5432/sharepack"


class LogEnvelopeRecorder(LogRecordProcessor):
    """What `AzureMonitorLogExporter.export` would make of each log record, were any shipped."""

    def __init__(self, envelopes: list[dict[str, Any]]) -> None:
        self.envelopes = envelopes

    def on_emit(self, log_record: Any) -> None:
        self.envelopes.append(_convert_log_to_envelope(log_record).as_dict())

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def main() -> None:
    configure_logging(json=True)
    provider = tracing.configure(Settings.from_env(dotenv_path=None), "probe")
    masking = [p.span_exporter for p in provider._active_span_processor._span_processors
               if isinstance(getattr(p, "span_exporter", None), tracing.MaskingSpanExporter)]
    exporter = type(masking[0].inner).__name__ if masking else None
    recorder = EnvelopeRecorder()
    for found in masking:
        found.inner = recorder
    # Were logs shipped through OpenTelemetry, their envelopes would be recorded (and checked) too.
    logger_provider = _logs.get_logger_provider()
    if isinstance(logger_provider, LoggerProvider):
        logger_provider.add_log_record_processor(LogEnvelopeRecorder(recorder.envelopes))

    log = get_logger("probe")
    try:
        with tracing.span("sync AD users", job="AD_USERS"):
            log.warning("queue.unreachable", connection_string=CONNECTION_STRING)
            log.warning("queue.unreachable", error=f"cannot connect with {CONNECTION_STRING}")
            logging.getLogger("azure.probe").error("connecting with %s failed", CONNECTION_STRING)
            logging.getLogger("sqlalchemy.probe").error("cannot reach %s", DATABASE_URL)
            try:
                raise PermissionError(f"token request refused: client_secret={CLIENT_SECRET}")
            except PermissionError:
                log.exception("graph.token_failed")
            raise ConnectionError(f"could not connect to {DATABASE_URL} (AccountKey={STORAGE_KEY})")
    except ConnectionError:
        pass
    provider.force_flush()
    if isinstance(logger_provider, LoggerProvider):
        logger_provider.force_flush()
    sys.stdout.flush()
    print(json.dumps({
        "exporter": exporter,
        "logs_through_opentelemetry": isinstance(logger_provider, LoggerProvider),
        "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers],
        "envelopes": recorder.envelopes,
    }, default=str))


if __name__ == "__main__":
    main()
