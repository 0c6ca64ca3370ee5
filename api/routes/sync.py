"""Sync service routes for administrators: the recorded runs, and "run this job now"."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import services
from api.errors import ROUTE_ERRORS, documents_errors
from api.permissions import authenticated_caller, require_administrator
from api.schemas import PageQuerySchema, PageSchema, one_of
from shared.platform.status import NotificationStatus, NotificationType, SyncStatus, SyncType, values
from shared.use_cases.sync_jobs import (
    list_sync_jobs,
    notification_with_history,
    parse_sync_type,
    request_sync_run,
)

blp = Blueprint("sync", __name__, url_prefix="/workflow/sync", description="Sync service runs (administrators)")


@blp.before_request
def _authenticate() -> None:
    """401 before anything else: a caller without credentials learns nothing about the input rules."""
    authenticated_caller()


class SyncJobQuerySchema(PageQuerySchema):
    sync_type = fields.String(validate=validate.OneOf(values(SyncType)))
    status = fields.String(validate=validate.OneOf(values(SyncStatus)))


class SyncJobSchema(Schema):
    SyncJobId = fields.UUID(attribute="sync_job_id")
    SyncType = one_of(SyncType, attribute="sync_type")
    Status = one_of(SyncStatus, attribute="status")
    WorkspaceUrl = fields.String(attribute="workspace_url", allow_none=True)
    StartedAt = fields.DateTime(attribute="started_at")
    CompletedAt = fields.DateTime(attribute="completed_at", allow_none=True)
    RecordsProcessed = fields.Integer(attribute="records_processed")
    RecordsCreated = fields.Integer(attribute="records_created")
    RecordsUpdated = fields.Integer(attribute="records_updated")
    RecordsFailed = fields.Integer(attribute="records_failed")
    ErrorMessage = fields.String(attribute="error_message", allow_none=True)
    Details = fields.Dict(attribute="details")


class SyncJobListSchema(PageSchema):
    SyncJobs = fields.List(fields.Nested(SyncJobSchema))


class SyncRunRequestedSchema(Schema):
    Message = fields.String()
    SyncType = one_of(SyncType)
    RequestedAt = fields.DateTime()


class StatusChangeSchema(Schema):
    Status = one_of(NotificationStatus, attribute="status")
    At = fields.DateTime(attribute="at")
    Attempt = fields.Integer(attribute="attempt")
    ErrorMessage = fields.String(attribute="error_message", allow_none=True)


class NotificationStatusSchema(Schema):
    NotificationId = fields.UUID()
    NotificationType = one_of(NotificationType)
    RecipientEmail = fields.String(allow_none=True)
    Subject = fields.String()
    Status = one_of(NotificationStatus)
    SentAt = fields.DateTime(allow_none=True)
    ErrorMessage = fields.String(allow_none=True)
    History = fields.List(fields.Nested(StatusChangeSchema))


@blp.route("/jobs")
class SyncJobs(MethodView):
    @blp.arguments(SyncJobQuerySchema, location="query")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, SyncJobListSchema)
    def get(self, args):
        """Recorded sync runs, newest first, filtered by type and status."""
        require_administrator("see sync runs")
        with services().session_factory() as session:
            page = list_sync_jobs(session, **args)
        return {
            "Message": f"{len(page.items)} sync jobs",
            "Count": len(page.items),
            "Total": page.total,
            "Page": page.page,
            "PageSize": page.page_size,
            "SyncJobs": page.items,
        }


@blp.route("/jobs/<string:sync_type>/run")
class SyncJobRun(MethodView):
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(202, SyncRunRequestedSchema)
    def post(self, sync_type: str):
        """Ask the sync service to run this job at its next tick (never overlapping a running one)."""
        caller = require_administrator("run sync jobs")
        wanted = parse_sync_type(sync_type)
        requested_at = request_sync_run(services().session_factory, wanted, requested_by=caller.identity)
        body = {
            "Message": f"{wanted} will run at the sync service's next tick",
            "SyncType": wanted,
            "RequestedAt": requested_at,
        }
        return body, {"Location": url_for("sync.SyncJobs", sync_type=wanted)}  # where its run will be listed


@blp.route("/notifications/<string:notification_id>")
class NotificationStatus(MethodView):
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, NotificationStatusSchema)
    def get(self, notification_id: str):
        """A notification's delivery: its status now and every change (PENDING, retries, SENT or FAILED)."""
        require_administrator("see notification deliveries")
        with services().session_factory() as session:
            notification, history = notification_with_history(session, notification_id)
        return {
            "NotificationId": notification.notification_id,
            "NotificationType": notification.notification_type,
            "RecipientEmail": notification.recipient_email,
            "Subject": notification.subject,
            "Status": notification.status,
            "SentAt": notification.sent_at,
            "ErrorMessage": notification.error_message,
            "History": history,
        }
