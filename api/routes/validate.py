"""The dry run: `POST /workflow/sharepack/validate` checks an upload against its workspace, read-only.

Same multipart upload and headers as the upload route; it stores nothing and queues nothing, and answers
200 whether or not the pack has errors (the errors are the answer). Only a file that cannot be read at all
(413/415) or a workspace that cannot be read (503) answers otherwise. A deployment without Databricks
credentials checks the file only, and says so in a warning.
"""

from __future__ import annotations

from http import HTTPStatus

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.context import caller, services, workspace_url
from api.errors import documents_errors
from api.routes.share_packs import COMMON_ERRORS, WORKSPACE_HEADER, authenticate_and_resolve_workspace
from api.schemas import UPLOAD_FILE_TYPES, IssueSchema, UploadSchema
from api.uploads import dry_run_upload

blp = Blueprint("validate", __name__, url_prefix="/workflow", description="Dry runs of share packs")


class ValidateResponseSchema(Schema):
    Message = fields.String()
    Valid = fields.Boolean()
    ValidationErrors = fields.List(fields.Nested(IssueSchema))
    ValidationWarnings = fields.List(fields.Nested(IssueSchema))
    Plan = fields.Dict(allow_none=True, metadata={"description": "What provisioning would do; null if not read"})


# The same checks as every share pack route, before the view: credentials and a known workspace.
blp.before_request(authenticate_and_resolve_workspace)


@blp.route("/sharepack/validate", parameters=[WORKSPACE_HEADER])
class SharePackValidate(MethodView):
    @blp.doc(**UPLOAD_FILE_TYPES)
    @blp.arguments(UploadSchema, location="files")
    @blp.response(200, ValidateResponseSchema)
    @documents_errors(
        blp,
        *COMMON_ERRORS,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    )
    def post(self, files):
        """Check a share pack against its workspace and preview its plan; nothing is stored or queued."""
        upload = files["file"]
        content = upload.stream.read(services().settings.max_upload_bytes + 1)
        result = dry_run_upload(content, upload.filename or "upload", workspace_url(), caller())
        count = len(result.errors)
        return {
            "Message": f"The share pack has {count} error{'s' if count != 1 else ''}; nothing was stored",
            "Valid": not result.errors,
            "ValidationErrors": [e.to_dict() for e in result.errors],
            "ValidationWarnings": [w.to_dict() for w in result.warnings],
            "Plan": result.plan,
        }
