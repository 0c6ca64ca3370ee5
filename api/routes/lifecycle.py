"""A pack after its upload: retry a FAILED one, upload a revision (same SharePackId), roll back to an
earlier configuration. Same credentials and workspace checks as the other share pack routes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from api.context import asker, services, workflow
from api.errors import documents_errors
from api.routes.share_packs import (
    COMMON_ERRORS,
    IDEMPOTENCY_KEY_HEADER,
    WORKSPACE_HEADER,
    accepted,
    answer_once,
    authenticate_and_resolve_workspace,
)
from api.schemas import UPLOAD_FILE_TYPES, IssueSchema, PlanSchema, UploadSchema, one_of
from shared.platform.status import SharePackStatus
from shared.provisioning.plan import Plan
from shared.use_cases.queries import parse_share_pack_id
from shared.use_cases.transitions import Queued, RollbackPreview

blp = Blueprint("lifecycle", __name__, url_prefix="/workflow", description="Retry, revise and roll back share packs")
blp.before_request(authenticate_and_resolve_workspace)


class RollbackSchema(Schema):
    class Meta:
        unknown = RAISE

    ToVersion = fields.Integer(
        # Versions are PostgreSQL integers: a larger number names no version (and would not fit the query).
        required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "A configuration version of this pack that no approver declined (see "
                                 "RollbackTargets in its history)"},
    )
    DryRun = fields.Boolean(
        load_default=False,
        metadata={"description": "Only plan the rollback against the workspace and answer 200 with the plan; "
                                 "nothing is stored or queued"},
    )


class QueuedSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    Version = fields.Integer()
    Status = one_of(SharePackStatus)
    ValidationWarnings = fields.List(fields.Nested(IssueSchema))


class RollbackAnswerSchema(QueuedSchema):
    Plan = fields.Nested(
        PlanSchema, allow_none=True,
        metadata={"description": "The rollback's plan against the workspace as it is now (a preview: the worker "
                                 "plans again when it applies it); null when the workspace could not be read, "
                                 "with a warning"},
    )


def _answer(message: str, outcome: Queued | RollbackPreview, **extra: Any) -> dict[str, Any]:
    return {
        "Message": message,
        "SharePackId": outcome.share_pack_id,
        "SharePackName": outcome.share_pack_name,
        "Version": outcome.version,
        "Status": outcome.status,
        "ValidationWarnings": [w.to_dict() for w in outcome.warnings],
        **extra,
    }


def _plan(plan: Plan | None) -> dict[str, Any] | None:
    return plan.to_dict() if plan is not None else None


@blp.route("/sharepack/<string:share_pack_id>/retry", parameters=[WORKSPACE_HEADER])
class SharePackRetry(MethodView):
    @blp.response(202, QueuedSchema)
    @documents_errors(blp, *COMMON_ERRORS, HTTPStatus.FORBIDDEN, HTTPStatus.CONFLICT)
    def post(self, share_pack_id: str):
        """Queue a FAILED share pack again; what its earlier attempt finished is not redone."""
        queued = workflow().retry(asker(), parse_share_pack_id(share_pack_id))
        return accepted(_answer("Share pack queued for retry", queued))


@blp.route("/sharepack/<string:share_pack_id>/rollback", parameters=[WORKSPACE_HEADER])
class SharePackRollback(MethodView):
    @blp.arguments(RollbackSchema)
    @blp.response(202, RollbackAnswerSchema)
    @blp.alt_response(200, schema=RollbackAnswerSchema, description="DryRun: the plan; nothing stored or queued")
    @documents_errors(blp, *COMMON_ERRORS, HTTPStatus.FORBIDDEN, HTTPStatus.CONFLICT)
    def post(self, body: dict[str, Any], share_pack_id: str):
        """Take the workspace back to a configuration version of this pack, as a new version.

        The plan is made against the workspace now and shown at once (`GET .../plan`); `DryRun` only
        answers it.
        """
        to_version = body["ToVersion"]
        if body["DryRun"]:
            preview = workflow().preview_rollback(asker(), parse_share_pack_id(share_pack_id), to_version)
            message = f"Plan of a rollback to version {to_version}; nothing was queued"
            return _answer(message, preview, Plan=_plan(preview.plan)), HTTPStatus.OK
        queued = workflow().rollback(asker(), parse_share_pack_id(share_pack_id), to_version)
        return accepted(_answer(f"Share pack queued for rollback to version {to_version}", queued,
                                Plan=_plan(queued.plan)))


@blp.route("/sharepack/<string:share_pack_id>/upload", parameters=[WORKSPACE_HEADER, IDEMPOTENCY_KEY_HEADER])
class SharePackRevision(MethodView):
    @blp.doc(**UPLOAD_FILE_TYPES)
    @blp.arguments(UploadSchema, location="files")
    @blp.response(202, QueuedSchema)
    @documents_errors(
        blp, *COMMON_ERRORS, HTTPStatus.FORBIDDEN, HTTPStatus.CONFLICT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    )
    def post(self, files: dict[str, Any], share_pack_id: str):
        """Upload a revision of a share pack: validated like an upload, stored as its next configuration."""
        upload = files["file"]
        content = upload.stream.read(services().settings.max_upload_bytes + 1)
        filename = upload.filename or "upload"

        def revise() -> dict[str, Any]:
            queued = workflow().revise(asker(), parse_share_pack_id(share_pack_id), content, filename)
            waits = queued.status == "PENDING_APPROVAL"
            return _answer("Revision uploaded; waiting for an approver" if waits else
                           "Revision uploaded and queued for provisioning", queued)

        return answer_once(revise, QueuedSchema, content, filename)
