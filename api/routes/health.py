"""GET /workflow/health: is the database reachable and migrated, and the queue reachable."""

from __future__ import annotations

from http import HTTPStatus

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import services
from api.errors import documents_errors
from api.schemas import HealthSchema, LivenessSchema

blp = Blueprint("health", __name__, url_prefix="/workflow", description="Service health")


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(
        503, schema=HealthSchema, description="A dependency is down or the schema is incomplete"
    )
    @documents_errors(blp, HTTPStatus.NOT_FOUND)
    def get(self):
        """Report database, schema and queue health (no credentials needed, no secrets shown)."""
        report = services().health_check()
        body = {
            "Message": report.message,
            "DatabaseConnected": report.database_connected,
            "QueueConnected": report.queue_connected,
            "TablesCount": report.tables_count,
        }
        return body, (200 if report.healthy else 503)


@blp.route("/health/live")
class Liveness(MethodView):
    @blp.response(200, LivenessSchema)
    @documents_errors(blp, HTTPStatus.NOT_FOUND)
    def get(self):
        """Answer without touching any dependency: for container liveness probes (health is readiness)."""
        return {"Message": "Alive"}
