"""GET /metrics: Prometheus metrics of every gunicorn worker of this API (multiprocess mode)."""

from __future__ import annotations

from flask import Blueprint, Response

from shared.metrics import exposition

blp = Blueprint("metrics", __name__)


@blp.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)
