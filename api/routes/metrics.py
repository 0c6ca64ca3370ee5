"""GET /metrics: Prometheus metrics of every gunicorn worker of this API (multiprocess mode), for an
authenticated caller only.

Request counts by route and status tell an outsider what is used and what fails, so the scraper proves who
it is like any client: give Prometheus its own API key (`authorization: {credentials: <key>}` in the scrape
config) or, with Entra ID, an app registration (`oauth2:` client credentials). The worker and the sync
service serve theirs on `metrics_port`, which is not exposed outside the cluster.
"""

from __future__ import annotations

from flask import Blueprint, Response

from api.context import authenticate
from shared.platform.metrics import exposition

blp = Blueprint("metrics", __name__)


@blp.get("/metrics")
def prometheus_metrics() -> Response:
    authenticate()
    body, content_type = exposition()
    return Response(body, content_type=content_type)
