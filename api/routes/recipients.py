"""Recipient routes: rotate a D2O recipient's token (the new activation link is e-mailed, never returned)."""

from __future__ import annotations

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import services
from api.errors import ROUTE_ERRORS, documents_errors
from api.permissions import authenticated_caller, require_project_configurator
from shared.access.workspaces import resolve_workspace_url
from shared.platform.errors import ServiceUnavailable
from shared.use_cases.rotate_token import (
    RecipientToRotate,
    Rotation,
    find_recipient_to_rotate,
    rotate_recipient_token,
)

blp = Blueprint("recipients", __name__, url_prefix="/workflow/recipients", description="Delta Sharing recipients")


@blp.before_request
def _authenticate() -> None:
    """401 before anything else: a caller without credentials learns nothing about the input rules."""
    authenticated_caller()

# Databricks accepts any non-negative overlap; a year bounds a typo (the token itself lives at most a year).
MAX_OVERLAP_SECONDS = 365 * 24 * 3600


class RotateTokenSchema(Schema):
    ExistingTokenExpiresInSeconds = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_OVERLAP_SECONDS)
    )


class RotatedTokenSchema(Schema):
    Message = fields.String()
    RecipientName = fields.String()
    NotificationId = fields.UUID()
    ExistingTokenExpiresAt = fields.DateTime(allow_none=True)
    NewTokenExpiresAt = fields.DateTime(allow_none=True)


@blp.route("/<string:name>/rotate-token")
class RotateToken(MethodView):
    @blp.arguments(RotateTokenSchema)
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, RotatedTokenSchema)
    def post(self, body, name: str):
        """Rotate the recipient's token; the existing one keeps working for the overlap given."""
        svc = services()
        url = resolve_workspace_url(svc.session_factory, svc.settings, request.headers.get("X-Workspace-URL"))
        rotation = rotate_token(url, name, existing_token_expires_in_seconds=body["ExistingTokenExpiresInSeconds"])
        return {
            "Message": f"Token rotated; the new activation link is e-mailed to {rotation.recipient_email or 'nobody'}",
            "RecipientName": rotation.recipient_name,
            "NotificationId": rotation.notification_id,
            "ExistingTokenExpiresAt": rotation.existing_token_expires_at,
            "NewTokenExpiresAt": rotation.new_token_expires_at,
        }


def require_rotator(target: RecipientToRotate) -> None:
    """Forbidden unless the caller configures the recipient's project (or its tenant), or administers the service."""
    require_project_configurator(target.tenant, target.project, "rotate its recipients' tokens")


def rotate_token(workspace_url: str, name: str, *, existing_token_expires_in_seconds: int) -> Rotation:
    """Rotate recipient ``name``'s token for this request's caller (the API route and the console).

    Raises:
        NotFound, InvalidInput: no such D2O recipient in the workspace.
        Forbidden: the caller does not configure the recipient's project.
        ServiceUnavailable: this process has no Databricks credentials or activation link keys.
    """
    svc = services()
    caller = authenticated_caller()
    with svc.session_factory() as session:
        target = find_recipient_to_rotate(session, workspace_url=workspace_url, name=name)
    require_rotator(target)
    if svc.recipient_tokens is None or svc.activation_links is None:
        raise ServiceUnavailable(
            "Token rotation is not configured here: it needs Databricks credentials and activation_link_keys"
        )
    return rotate_recipient_token(
        svc.session_factory,
        svc.recipient_tokens(workspace_url),
        svc.activation_links,
        target,
        existing_token_expires_in_seconds=existing_token_expires_in_seconds,
        performed_by=caller.identity,
        request_id=g.get("request_id"),
    )
