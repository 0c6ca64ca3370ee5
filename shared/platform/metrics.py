"""Prometheus metrics: every metric object of the service, their label vocabularies, and how they are served.

Counters and histograms are incremented at a few central points (the API's request hooks and error
handler, the provisioning gateway's one call wrapper, the recorder's `finish`, the job's step loop). The
gauges read from the database and the queue at scrape time live in `shared.platform.gauges`, so that the modules
that only count (the provisioner among them) import neither SQLAlchemy nor a queue client.

Exposition: the API serves `/metrics` from gunicorn's workers in prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by api/gunicorn.conf.py); the worker and the sync service serve their own
port (`metrics_port`). Names follow https://prometheus.io/docs/practices/naming/ (unit suffixes, _total).
deploy/alerts.yml is written against these names.
"""

from __future__ import annotations

import os
import re
from functools import cache

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import REGISTRY, Collector

from shared.platform.logging import get_logger
from shared.platform.settings import Settings

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
