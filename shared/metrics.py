"""Prometheus metrics: every metric object of the service, and the collectors that read gauges at scrape time.

Counters and histograms are incremented at a few central points (the API's request hooks and error
handler, the provisioning gateway's one call wrapper, the recorder's `finish`, the job's step loop). The
gauges (queue depth and oldest message age, poison depth, the oldest pack in progress, consecutive sync
failures, database reachability) are read from the database and the queue when Prometheus scrapes, by
`StateCollector`, registered in the worker only: one process answers them however many API replicas run.

Exposition: the API serves `/metrics` from gunicorn's workers in prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by api/gunicorn.conf.py); the worker and the sync service serve their own
port (`metrics_port`). Names follow https://prometheus.io/docs/practices/naming/ (unit suffixes, _total).
deploy/alerts.yml is written against these names.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from shared.logging import get_logger
from shared.queue.factory import poison_queue_name
from shared.settings import Settings

log = get_logger(__name__)

# Seconds: a pack takes from about a second to many minutes at design scale.
_PACK_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)

# -- the API ---------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "sharepack_http_requests", "API requests by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sharepack_http_request_duration_seconds", "API request latency by route template", ["route"],
)
UPLOADS = Counter("sharepack_uploads", "Share pack uploads by result", ["result"])
VALIDATION_FAILURES = Counter(
    "sharepack_validation_failures", "Validation errors in rejected uploads, by the rule's field path", ["rule"],
)

# -- the worker ------------------------------------------------------------------------------------------
PACKS_FINISHED = Counter(
    "sharepack_packs_finished", "Share pack runs by final status and workspace", ["status", "workspace"],
)
PACK_DURATION = Histogram(
    "sharepack_pack_duration_seconds", "Upload to final status, per share pack run", ["status"],
    buckets=_PACK_BUCKETS,
)
STEP_DURATION = Histogram(
    "sharepack_step_duration_seconds", "Duration of one provisioning step", ["step"], buckets=_STEP_BUCKETS,
)
DATABRICKS_CALLS = Counter(
    "sharepack_databricks_calls", "Databricks API calls by endpoint and error_code (OK on success)",
    ["endpoint", "error_code"],
)

# -- the sync service (defined here so every process shares one vocabulary) ------------------------------
GRAPH_CALLS = Counter("sharepack_graph_calls", "Microsoft Graph calls by endpoint and result", ["endpoint", "result"])
NOTIFICATIONS = Counter("sharepack_notifications", "Notifications sent, by type and result", ["type", "result"])
SYNC_RUNS = Counter("sharepack_sync_runs", "Sync job runs by type and result", ["sync_type", "result"])


_ROUTE_PARAMETER = re.compile(r"'[^']*'")
_PATH_SEGMENT = re.compile(r"([^\[]*)((?:\[\d+\])*)")
# Label values come from closed sets only: a value a caller chooses (any HTTP method, any key of an uploaded
# file) would make a new series each, kept in every worker's multiprocess file until the next deployment.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "OTHER"


def databricks_endpoint(concerning: str) -> str:
    """A bounded label from what a gateway call concerns: "share 'sales'" -> "share"."""
    return " ".join(_ROUTE_PARAMETER.sub("", concerning).split()) or "unknown"


def http_method(method: str) -> str:
    """A bounded label from a request's method: the standard ones, any other as `OTHER`."""
    return method if method in HTTP_METHODS else OTHER


def validation_rule(path: str) -> str:
    """A bounded label from an issue's path: "share[0].data_objects[3].name" -> "share[].data_objects[].name".

    Only field names of the share pack schema make a label; the path stops at the first segment that is not
    one (an unknown key of the file), written `OTHER`."""
    if not path:
        return "file"
    segments = []
    for part in path.split("."):
        match = _PATH_SEGMENT.fullmatch(part)
        if match is None or match.group(1) not in _field_names():
            segments.append(OTHER)
            break
        segments.append(match.group(1) + "[]" * match.group(2).count("["))
    return ".".join(segments)


@cache
def _field_names() -> frozenset[str]:
    from shared.share_pack_file.schema import vocabulary

    return vocabulary()


def upload_result(status: int) -> str:
    return {202: "accepted", 400: "invalid", 401: "unauthenticated", 403: "forbidden", 413: "too_large",
            415: "unsupported_media_type"}.get(status, f"http_{status}")


# -- exposition -------------------------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The metrics text of this process, or of all gunicorn workers in multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_state_collectors: list[Collector] = []


def serve(settings: Settings, collector: Collector | None = None) -> int | None:
    """Serve this process's metrics on `settings.metrics_port` (None: not served); returns the port.

    `collector` replaces the one registered before (a process has one state collector).
    """
    if collector is not None:
        while _state_collectors:
            REGISTRY.unregister(_state_collectors.pop())
        REGISTRY.register(collector)
        _state_collectors.append(collector)
    if settings.metrics_port is None:
        return None
    start_http_server(settings.metrics_port)
    log.info("metrics.serving", port=settings.metrics_port)
    return settings.metrics_port


# -- gauges read at scrape time ---------------------------------------------------------------------------


class StateCollector(Collector):
    """Gauges read from the database and the queue on each scrape.

    Each read is its own query, so one failing (say, the queue) still lets the others answer; a database
    that cannot be reached is itself the gauge `sharepack_database_up 0`.
    """

    def __init__(self, engine: Engine, settings: Settings, *, service: str,
                 depth: Callable[[str], int] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.service = service
        self._depth = depth

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query the database; names are only known at collect time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self.snapshot()
        database = GaugeMetricFamily("sharepack_database_up", "1 if the database answers", labels=["service"])
        database.add_metric([self.service], 1.0 if snapshot["database_up"] else 0.0)
        yield database
        for name, key, help_text in (
            ("sharepack_queue_depth", "queue_depth", "Messages on the queue (approximate on Azure)"),
            ("sharepack_queue_oldest_message_age_seconds", "queue_oldest_message_age_seconds",
             "Age of the oldest message on the queue"),
            ("sharepack_poison_queue_depth", "poison_queue_depth", "Messages set aside as poison"),
        ):
            if snapshot.get(key) is not None:
                gauge = GaugeMetricFamily(name, help_text, labels=["queue"])
                queue = poison_queue_name(self.settings.azure_queue_name) if key.startswith("poison") \
                    else self.settings.azure_queue_name
                gauge.add_metric([queue], float(snapshot[key]))
                yield gauge
        if snapshot.get("oldest_in_progress_pack_age_seconds") is not None:
            yield GaugeMetricFamily("sharepack_oldest_in_progress_pack_age_seconds",
                                    "Age of the oldest share pack still IN_PROGRESS (0 when none)",
                                    value=float(snapshot["oldest_in_progress_pack_age_seconds"]))
        failures = snapshot.get("sync_consecutive_failures")
        if failures is not None:
            gauge = GaugeMetricFamily("sharepack_sync_consecutive_failures",
                                      "Failed runs in a row of each sync job type", labels=["sync_type"])
            for sync_type, count in sorted(failures.items()):
                gauge.add_metric([sync_type], float(count))
            yield gauge

    def snapshot(self) -> dict[str, object]:
        """The gauge values as one dict (also logged as `monitoring.snapshot` for Azure's log alerts)."""
        values: dict[str, object] = {"database_up": self._database_up()}
        if values["database_up"]:
            values["oldest_in_progress_pack_age_seconds"] = self._read(_OLDEST_IN_PROGRESS)
            failures = self._sync_failures()
            values["sync_consecutive_failures"] = failures
            values["sync_max_consecutive_failures"] = max(failures.values(), default=0) if failures else None
        values["queue_depth"] = self._queue_depth(self.settings.azure_queue_name)
        values["poison_queue_depth"] = self._queue_depth(poison_queue_name(self.settings.azure_queue_name))
        values["queue_oldest_message_age_seconds"] = self._oldest_message_age()
        return values

    def _database_up(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def _read(self, sql: str, **params: object) -> float | None:
        try:
            with self.engine.connect() as conn:
                value = conn.scalar(text(sql), params)
            return float(value or 0)
        except SQLAlchemyError:
            return None

    def _sync_failures(self) -> dict[str, int] | None:
        try:
            with self.engine.connect() as conn:
                return {row.sync_type: row.failures for row in conn.execute(text(_SYNC_FAILURES_IN_A_ROW))}
        except SQLAlchemyError:
            return None

    def _queue_depth(self, name: str) -> int | None:
        if self._depth is None:
            return None
        try:
            return self._depth(name)
        except Exception:  # a queue that cannot be read leaves its gauge out: absent, not a wrong zero
            log.warning("metrics.queue_unreadable", queue=name)
            return None

    def _oldest_message_age(self) -> float | None:
        if self.settings.queue_backend == "postgres":
            return self._read(_OLDEST_POSTGRES_MESSAGE, queue=self.settings.azure_queue_name)
        return _oldest_azure_message_age(self.settings)


_OLDEST_IN_PROGRESS = """
SELECT coalesce(extract(EPOCH FROM now() - min(created_at)), 0) FROM deltashare.share_packs
WHERE is_current AND share_pack_status = 'IN_PROGRESS'
"""
_OLDEST_POSTGRES_MESSAGE = """
SELECT coalesce(extract(EPOCH FROM now() - min(inserted_at)), 0) FROM workflow_runtime.queue_messages
WHERE queue_name = :queue
"""
# Per sync type: the failed runs since its last success (or since the start). Running jobs do not count.
_SYNC_FAILURES_IN_A_ROW = """
SELECT j.sync_type, count(*) FILTER (
    WHERE j.status IN ('FAILED', 'INTERRUPTED')
      AND j.started_at > coalesce(
          (SELECT max(s.started_at) FROM deltashare.sync_jobs s
           WHERE s.sync_type = j.sync_type AND s.status = 'COMPLETED'), '-infinity')
) AS failures
FROM deltashare.sync_jobs j
GROUP BY j.sync_type
"""


def _oldest_azure_message_age(settings: Settings) -> float | None:
    """Peek (without dequeuing) at the first message: Azure queues are roughly FIFO, so it is the oldest."""
    if not settings.azure_queue_connection_string:
        return None
    try:
        from azure.storage.queue import QueueClient

        client = QueueClient.from_connection_string(settings.azure_queue_connection_string,
                                                    settings.azure_queue_name)
        with client:
            peeked = client.peek_messages(max_messages=1)
        if not peeked or peeked[0].inserted_on is None:
            return 0.0
        return (datetime.now(UTC) - peeked[0].inserted_on).total_seconds()
    except Exception:  # the queue is down or the key is wrong: leave the gauge out
        log.warning("metrics.queue_unreadable", queue=settings.azure_queue_name)
        return None


class SnapshotLogger:
    """Logs the collector's values as `monitoring.snapshot` every `interval_seconds`, for KQL alerts."""

    def __init__(self, collector: StateCollector, interval_seconds: float = 60) -> None:
        self.collector = collector
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-snapshot", daemon=True)

    def start(self) -> SnapshotLogger:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            log.info("monitoring.snapshot", service=self.collector.service, **self.collector.snapshot())
