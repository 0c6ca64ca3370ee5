"""Recertification: administrators require a project's access to be confirmed every N days; the project's
owners (configurators) and approvers, or administrators, confirm a pack's access, or the sync service
revokes it at the deadline (as it revokes an `expires_on` that has passed)."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from api.context import access, authenticate, services, workspace_url
from api.errors import ROUTE_ERRORS, documents_errors
from api.routes.share_packs import COMMON_ERRORS, WORKSPACE_HEADER, authenticate_and_resolve_workspace
from shared.access_expiry.records import (
    MAX_EVERY_DAYS,
    Recertification,
    pack_recertification,
    recertify,
    set_recertification,
)
from shared.platform.errors import NotFound
from shared.use_cases.queries import get_share_pack, parse_share_pack_id

blp = Blueprint("recertification", __name__, url_prefix="/workflow",
                description="Recertify a share pack's access, or it lapses")
blp.before_request(authenticate_and_resolve_workspace)
projects_blp = Blueprint("recertification_rules", __name__, url_prefix="/workflow",
                         description="Which projects require recertification (administrators)")
projects_blp.before_request(authenticate)


class EverySchema(Schema):
    class Meta:
        unknown = RAISE

    EveryDays = fields.Integer(
        required=True, allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_EVERY_DAYS),
        metadata={"description": "Confirm each pack's access at least every this many days, or it is revoked; "
                                 "null: the project no longer requires recertification"},
    )


class RecertificationSchema(Schema):
    Message = fields.String()
    EveryDays = fields.Integer(allow_none=True)
    CertifiedAt = fields.DateTime(allow_none=True, metadata={"description": "The last confirmation (the pack's "
                                                                            "first completion counts as one)"})
    CertifiedBy = fields.String(allow_none=True)
    DueAt = fields.DateTime(allow_none=True, metadata={"description": "When the access is revoked unless "
                                                                      "confirmed again; null: not required"})


def _answer(message: str, state: Recertification) -> dict[str, Any]:
    return {"Message": message, "EveryDays": state.every_days, "CertifiedAt": state.certified_at,
            "CertifiedBy": state.certified_by, "DueAt": state.due_at}


def parse_project_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Project {raw[:64]!r} not found") from None


@projects_blp.route("/projects/<string:project_id>/recertification")
class ProjectRecertificationRule(MethodView):
    @projects_blp.arguments(EverySchema, location="json")
    @projects_blp.response(200, RecertificationSchema)
    @documents_errors(projects_blp, *ROUTE_ERRORS)
    def put(self, body: dict[str, Any], project_id: str) -> dict[str, Any]:
        """Require the project's packs to be recertified every EveryDays days (administrators only)."""
        every = body["EveryDays"]
        state = set_recertification(services().session_factory, access(), parse_project_id(project_id), every,
                                    request_id=g.get("request_id"))
        return _answer(f"Recertification every {every} days" if every else "Recertification not required", state)


@blp.route("/sharepack/<string:share_pack_id>/recertification", parameters=[WORKSPACE_HEADER])
class SharePackRecertification(MethodView):
    @blp.response(200, RecertificationSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, share_pack_id: str) -> dict[str, Any]:
        """When the pack's access was last confirmed and when it lapses unless confirmed again."""
        with services().session_factory() as session:
            pack = get_share_pack(session, parse_share_pack_id(share_pack_id), workspace_url=workspace_url())
            access().require_visible(session, pack)
            state = pack_recertification(session, pack)
        return _answer("Recertification required" if state.every_days else "Recertification not required", state)


@blp.route("/sharepack/<string:share_pack_id>/recertify", parameters=[WORKSPACE_HEADER])
class SharePackRecertify(MethodView):
    @blp.response(200, RecertificationSchema)
    @documents_errors(blp, *COMMON_ERRORS, HTTPStatus.FORBIDDEN, HTTPStatus.CONFLICT)
    def post(self, share_pack_id: str) -> dict[str, Any]:
        """Confirm that the pack's access is still needed: its recertification period starts again now.

        Only the owners (configurators) and approvers of the pack's project, and administrators, may.
        """
        state = recertify(services().session_factory, access(), parse_share_pack_id(share_pack_id),
                          workspace_url=workspace_url(), request_id=g.get("request_id"))
        return _answer("Access recertified", state)
