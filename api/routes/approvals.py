"""Approve or decline a share pack that waits for approval: only approvers of its project, never its requestor."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import access, authenticate, services
from api.errors import ROUTE_ERRORS, documents_errors
from api.schemas import refuse_control_characters_but_line_breaks
from shared.access.approval import MAX_COMMENT_CHARS, approve, decline
from shared.use_cases.queries import parse_share_pack_id

blp = Blueprint("approvals", __name__, url_prefix="/workflow", description="The approval gate")


class DecisionSchema(Schema):
    Comment = fields.String(
        load_default=None,
        validate=[validate.Length(max=MAX_COMMENT_CHARS), refuse_control_characters_but_line_breaks],
    )


class DecisionResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    Status = fields.String()
    DecidedBy = fields.String()


@blp.before_request
def _authenticate() -> None:
    authenticate()


@blp.route("/sharepack/<string:share_pack_id>/approve")
class Approve(MethodView):
    @blp.arguments(DecisionSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, DecisionResponseSchema)
    def post(self, body: dict[str, Any], share_pack_id: str) -> dict[str, Any]:
        """Approve a pack waiting for approval; it is queued for provisioning."""
        svc = services()
        decision = approve(
            svc.session_factory,
            access(),
            parse_share_pack_id(share_pack_id),
            comment=body.get("Comment"),
            queue_name=svc.settings.azure_queue_name,
            request_id=g.get("request_id"),
        )
        if decision.outbox_id is not None:
            svc.publisher.notify(decision.outbox_id)
        return _response("Share pack approved and queued for provisioning", decision)


@blp.route("/sharepack/<string:share_pack_id>/decline")
class Decline(MethodView):
    @blp.arguments(DecisionSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, DecisionResponseSchema)
    def post(self, body: dict[str, Any], share_pack_id: str) -> dict[str, Any]:
        """Decline a pack waiting for approval; it will not be provisioned."""
        decision = decline(
            services().session_factory,
            access(),
            parse_share_pack_id(share_pack_id),
            comment=body.get("Comment"),
            request_id=g.get("request_id"),
        )
        return _response("Share pack declined", decision)


def _response(message: str, decision: Any) -> dict[str, Any]:
    return {
        "Message": message,
        "SharePackId": decision.share_pack_id,
        "Status": decision.status,
        "DecidedBy": decision.decided_by,
    }
