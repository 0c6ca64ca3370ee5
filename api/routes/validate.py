"""The dry run: `POST /workflow/sharepack/validate` checks an upload against its workspace, read-only.

Same multipart upload and headers as the upload route; it stores nothing and queues nothing, and answers
200 whether or not the pack has errors (the errors are the answer). Only a file that cannot be read at all
(413/415) or a workspace that cannot be read (503) answers otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.context import Services, services, workspace_url
from api.schemas import IssueSchema, UploadSchema
from shared.errors import ServiceUnavailable
from shared.preflight import PreflightReport, preflight_within
from shared.share_pack_file import SharePackSpec
from shared.use_cases.preflight import dry_run
from shared.workspaces import resolve_workspace_url

blp = Blueprint("validate", __name__, url_prefix="/workflow", description="Dry runs of share packs")


class ValidateResponseSchema(Schema):
    Message = fields.String()
    Valid = fields.Boolean()
    ValidationErrors = fields.List(fields.Nested(IssueSchema))
    ValidationWarnings = fields.List(fields.Nested(IssueSchema))
    Plan = fields.Dict(allow_none=True, metadata={"description": "What provisioning would do; null if not read"})


def upload_preflight(svc: Services, url: str) -> Callable[[SharePackSpec], PreflightReport] | None:
    """The upload route's pre-flight: bounded by ``preflight_budget_seconds``; None without credentials."""
    reader_for = svc.reader_for
    if reader_for is None:
        return None
    return partial(
        preflight_within,
        reader_for=lambda: reader_for(url),
        budget_seconds=svc.settings.preflight_budget_seconds,
    )


@blp.before_request
def _authenticate_and_resolve_workspace() -> None:
    svc = services()
    g.caller = svc.authenticator.authenticate(request.headers.get("Authorization"))
    with svc.session_factory() as session:
        g.workspace_url = resolve_workspace_url(session, svc.settings, request.headers.get("X-Workspace-URL"))


@blp.route("/sharepack/validate")
class SharePackValidate(MethodView):
    @blp.arguments(UploadSchema, location="files")
    @blp.response(200, ValidateResponseSchema)
    def post(self, files):
        """Check a share pack against its workspace and preview its plan; nothing is stored or queued."""
        svc = services()
        if svc.reader_for is None:
            raise ServiceUnavailable("No Databricks credentials are configured: the workspace cannot be read")
        upload = files["file"]
        result = dry_run(
            content=upload.stream.read(svc.settings.max_upload_bytes + 1),
            filename=upload.filename or "upload",
            workspace_url=workspace_url(),
            max_bytes=svc.settings.max_upload_bytes,
            reader_for=svc.reader_for,
        )
        count = len(result.errors)
        return {
            "Message": f"The share pack has {count} error{'s' if count != 1 else ''}; nothing was stored",
            "Valid": not result.errors,
            "ValidationErrors": [e.to_dict() for e in result.errors],
            "ValidationWarnings": [w.to_dict() for w in result.warnings],
            "Plan": result.plan,
        }
