"""Approve or decline a share pack that waits for approval: only approvers of its project who neither requested
nor changed it since its last decision, naming the version they read."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import authenticate, workflow
from api.errors import ROUTE_ERRORS, documents_errors
from api.schemas import NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS, one_of, refuse_control_characters_but_line_breaks
from shared.platform.errors import InvalidInput
from shared.platform.status import SharePackStatus
from shared.use_cases.queries import parse_share_pack_id
from shared.use_cases.transitions import MAX_COMMENT_CHARS, Asker, Decision, Verdict

blp = Blueprint("approvals", __name__, url_prefix="/workflow", description="The approval gate")


class DecisionSchema(Schema):
    Version = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=2**31 - 1), load_default=None,
        metadata={"description": "The version of the pack you decide (its `Version` when you read it); "
                                 "required unless `If-Match` names it. A pack changed since answers 409."},
    )
    Comment = fields.String(
        load_default=None,
        validate=[validate.Length(max=MAX_COMMENT_CHARS), refuse_control_characters_but_line_breaks],
        metadata=NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS,
    )


class DecisionResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    Status = one_of(SharePackStatus)
    DecidedBy = fields.String()
    Version = fields.Integer(metadata={"description": "The pack's version after the decision"})


@blp.before_request
def _authenticate() -> None:
    authenticate()


@blp.route("/sharepack/<string:share_pack_id>/approve")
class Approve(MethodView):
    @blp.arguments(DecisionSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS, HTTPStatus.CONFLICT)
    @blp.response(200, DecisionResponseSchema)
    def post(self, body: dict[str, Any], share_pack_id: str) -> dict[str, Any]:
        """Approve the version of a pack you read, while it waits for approval; it is queued for provisioning."""
        decision = workflow().approve(_asker(), parse_share_pack_id(share_pack_id), _verdict(body))
        return _response("Share pack approved and queued for provisioning", decision)


@blp.route("/sharepack/<string:share_pack_id>/decline")
class Decline(MethodView):
    @blp.arguments(DecisionSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS, HTTPStatus.CONFLICT)
    @blp.response(200, DecisionResponseSchema)
    def post(self, body: dict[str, Any], share_pack_id: str) -> dict[str, Any]:
        """Decline the version of a pack you read, while it waits for approval; it will not be provisioned."""
        decision = workflow().decline(_asker(), parse_share_pack_id(share_pack_id), _verdict(body))
        return _response("Share pack declined", decision)


def _asker() -> Asker:
    # A decision concerns a pack wherever it is: no workspace header on these routes.
    return Asker("", g.caller, g.get("request_id"))


def _verdict(body: dict[str, Any]) -> Verdict:
    """The version decided: `Version` in the body, or `If-Match: "<version>"` (both must agree; neither: the
    workflow refuses it, once it has checked the caller may decide at all)."""
    version = body["Version"]
    matched = version_in_if_match(request.headers.get("If-Match"))
    if version is not None and matched is not None and version != matched:
        raise InvalidInput(f"Version {version} and If-Match {matched} name different versions; name one")
    return Verdict(version if version is not None else matched, body.get("Comment"))


def version_in_if_match(header: str | None) -> int | None:
    """The pack version an `If-Match` header names (an ETag `"<version>"`, weak or strong); None: no header."""
    if header is None:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise InvalidInput(f'If-Match must name a version of the pack, e.g. "3"; got {header[:40]!r}')
    return int(tag)


def _response(message: str, decision: Decision) -> dict[str, Any]:
    return {
        "Message": message,
        "SharePackId": decision.share_pack_id,
        "Status": decision.status,
        "DecidedBy": decision.decided_by,
        "Version": decision.version,
    }
