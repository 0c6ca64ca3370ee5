"""Health: `/workflow/health` (dependencies, cached a few seconds), `/workflow/health/ready` (configuration
that makes the service useful, with the worker and sync heartbeats), `/workflow/health/live` (the process
answers). No credentials needed, no secrets shown."""

from __future__ import annotations

from http import HTTPStatus

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.context import services
from api.errors import documents_errors
from api.schemas import HealthSchema, LivenessSchema
from shared.platform.health import ReadinessReport

blp = Blueprint("health", __name__, url_prefix="/workflow", description="Service health")


class HeartbeatSchema(Schema):
    Service = fields.String()
    Instance = fields.String()
    QueueBackend = fields.String(allow_none=True)
    StartedAt = fields.DateTime()
    LastBeatAt = fields.DateTime()
    Stale = fields.Boolean()


class ReadinessSchema(Schema):
    Message = fields.String()
    Problems = fields.List(fields.String())
    Heartbeats = fields.List(fields.Nested(HeartbeatSchema))


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])
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


@blp.route("/health/ready")
class Readiness(MethodView):
    @blp.doc(security=[])
    @blp.response(200, ReadinessSchema)
    @blp.alt_response(503, schema=ReadinessSchema, description="Not ready; `Problems` says why")
    def get(self):
        """Ready to serve: healthy, migrated, configured, and agreeing with the worker on the queue."""
        svc = services()
        health = svc.health_check()
        readiness = svc.readiness_check() if svc.readiness_check else ReadinessReport(())
        problems = [*health.problems, *readiness.problems]
        body = {
            "Message": "Ready" if not problems else "Not ready: " + "; ".join(problems),
            "Problems": problems,
            "Heartbeats": [
                {
                    "Service": beat.service,
                    "Instance": beat.instance,
                    "QueueBackend": beat.queue_backend,
                    "StartedAt": beat.started_at,
                    "LastBeatAt": beat.last_beat_at,
                    "Stale": beat.stale,
                }
                for beat in readiness.heartbeats
            ],
        }
        return body, (200 if not problems else 503)


@blp.route("/health/live")
class Liveness(MethodView):
    @blp.doc(security=[])
    @blp.response(200, LivenessSchema)
    @documents_errors(blp, HTTPStatus.NOT_FOUND)
    def get(self):
        """Answer without touching any dependency: for container liveness probes (readiness is /ready)."""
        return {"Message": "Alive"}
