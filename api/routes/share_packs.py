"""Share pack routes: upload, status, history, plan and listing. Every route needs credentials and a known
workspace (`X-Workspace-URL`); the checks run before the view, so no work starts for a refused call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from flask import g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema
from sqlalchemy.orm import Session

from api.context import access, asker, authenticate, services, workflow, workspace_url
from api.errors import documents_errors
from api.schemas import (
    UPLOAD_FILE_TYPES,
    HistoryResponseSchema,
    ListQuerySchema,
    ListResponseSchema,
    PlanResponseSchema,
    SharePackSchema,
    UploadResponseSchema,
    UploadSchema,
)
from shared.access.approval import latest_request
from shared.access.workspaces import resolve_workspace_url
from shared.models import Request, SharePack
from shared.platform.status import SharePackStatus
from shared.use_cases import idempotency
from shared.use_cases.lifecycle import PLAN_PREVIEW, rollback_targets
from shared.use_cases.queries import (
    SharePackQuery,
    get_share_pack,
    list_share_packs,
    parse_share_pack_id,
    share_pack_history,
)

blp = Blueprint("share_packs", __name__, url_prefix="/workflow", description="Share pack uploads and status")

# What any route here may answer before its view runs: an unknown workspace (400), no or bad credentials
# (401), the workflow disabled in this deployment (404), a rate limit or lockout (429), the database down (503).
COMMON_ERRORS = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.TOO_MANY_REQUESTS,
    HTTPStatus.SERVICE_UNAVAILABLE,
)
WORKSPACE_HEADER = {
    "in": "header",
    "name": "X-Workspace-URL",
    "required": True,
    "description": "The Databricks workspace the request is about (configured or registered ones only)",
    # Any non-blank value is read as a URL; only configured and registered workspaces are known (400 otherwise).
    "schema": {"type": "string", "minLength": 1, "pattern": r"\S"},
}
IDEMPOTENCY_KEY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any unique value of yours (e.g. a UUID) for this request: sent again with the same file "
                   "within 24 hours it answers what the first answered (the same SharePackId, with "
                   "`Idempotent-Replayed: true`) instead of making another pack; with a different file, 409",
    "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN},
}


@blp.before_request
def authenticate_and_resolve_workspace() -> None:
    """Authenticate the caller and resolve `X-Workspace-URL` (also used by `api.routes.lifecycle`)."""
    svc = services()
    authenticate()
    g.workspace_url = resolve_workspace_url(svc.session_factory, svc.settings, request.headers.get("X-Workspace-URL"))


@blp.route("/sharepack/upload", parameters=[WORKSPACE_HEADER, IDEMPOTENCY_KEY_HEADER])
class SharePackUpload(MethodView):
    @blp.doc(**UPLOAD_FILE_TYPES)
    @blp.arguments(UploadSchema(), location="files")  # an instance: webargs would build one per request
    @blp.response(202, UploadResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS, HTTPStatus.CONFLICT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                      HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    def post(self, files):
        """Validate a share pack, store it with history and queue it for provisioning."""
        upload = files["file"]
        content = upload.stream.read(services().settings.max_upload_bytes + 1)
        filename = upload.filename or "upload"

        def submit() -> dict[str, Any]:
            submitted = workflow().submit(asker(), content, filename)
            waits = submitted.status == SharePackStatus.PENDING_APPROVAL
            return {
                "Message": "Share pack uploaded; it waits for an approver of its project"
                if waits
                else "Share pack uploaded successfully and queued for provisioning",
                "SharePackId": submitted.share_pack_id,
                "SharePackName": submitted.share_pack_name,
                "Status": submitted.status,
                "ValidationErrors": [],
                "ValidationWarnings": [w.to_dict() for w in submitted.warnings],
            }

        return answer_once(submit, UploadResponseSchema, content, filename)


@blp.route("/sharepack/<string:share_pack_id>", parameters=[WORKSPACE_HEADER])
class SharePackById(MethodView):
    @blp.response(200, SharePackSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, share_pack_id: str):
        """The current status of a share pack, and the tickets it answers to."""
        with services().session_factory() as session:
            pack = visible_pack(session, share_pack_id)
            return PackWithTickets(pack, latest_request(session, pack.share_pack_id))


@blp.route("/sharepack/<string:share_pack_id>/history", parameters=[WORKSPACE_HEADER])
class SharePackHistory(MethodView):
    @blp.response(200, HistoryResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, share_pack_id: str):
        """Every version of a share pack: each status change, who made it and why."""
        with services().session_factory() as session:
            visible_pack(session, share_pack_id)
            versions = share_pack_history(
                session, parse_share_pack_id(share_pack_id), workspace_url=workspace_url()
            )
            targets = rollback_targets(session, versions[-1].share_pack_id)
        return {
            "Message": f"{len(versions)} versions",
            "SharePackId": versions[-1].share_pack_id,
            "SharePackName": versions[-1].share_pack_name,
            "History": versions,
            "RollbackTargets": targets,
        }


@blp.route("/sharepack/<string:share_pack_id>/plan", parameters=[WORKSPACE_HEADER])
class SharePackPlan(MethodView):
    @blp.response(200, PlanResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, share_pack_id: str):
        """What provisioning creates, changes and removes for this pack (null until planned)."""
        with services().session_factory() as session:
            pack = visible_pack(session, share_pack_id)
            plan = pack.plan  # a deferred column: read it while the session is open
        return {
            "Message": "Plan not made yet" if plan is None else (
                "Plan preview: the worker plans again when it applies it" if plan.get(PLAN_PREVIEW) else "Plan"
            ),
            "SharePackId": pack.share_pack_id,
            "Status": pack.share_pack_status,
            "Plan": plan,
        }


@blp.route("/sharepacks", parameters=[WORKSPACE_HEADER])
class SharePacks(MethodView):
    @blp.arguments(ListQuerySchema, location="query")
    @blp.response(200, ListResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, args):
        """Share packs of this workspace, newest first, filtered by status, requestor or project."""
        with services().session_factory() as session:
            query = SharePackQuery(workspace_url=workspace_url(), **args)
            page = list_share_packs(session, query, visible=access().visible(session))
        return {
            "Message": f"{len(page.items)} share packs",
            "Count": len(page.items),
            "Total": page.total,
            "Page": page.page,
            "PageSize": page.page_size,
            "SharePacks": page.items,
        }


@dataclass(frozen=True)
class PackWithTickets:
    """A pack read with the tickets of its latest request (each move of a pack writes one, with them)."""

    pack: SharePack
    request: Request | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pack, name)

    @property
    def service_now_ticket(self) -> str | None:
        return self.request.service_now_ticket if self.request else None

    @property
    def ado_ticket(self) -> str | None:
        return self.request.ado_ticket if self.request else None


def accepted(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A 202 about a share pack, with `Location`: the pack's status, where the accepted work can be followed."""
    return body, HTTPStatus.ACCEPTED, pack_location(body["SharePackId"])


def pack_location(share_pack_id: Any) -> dict[str, str]:
    return {"Location": url_for("share_packs.SharePackById", share_pack_id=str(share_pack_id))}


def answer_once(
    answer: Callable[[], dict[str, Any]], schema: type[Schema], *request_parts: bytes | str
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A 202 answer, made once per `Idempotency-Key` of this caller, workspace and route (none: every time).

    The first answer is stored as the client will read it (dumped by a `schema`, made only then), and a
    repeat of the same request is answered with it again, marked `Idempotent-Replayed: true` (see
    `shared.use_cases.idempotency`).
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return accepted(answer())
    scope = idempotency.Scope(g.caller.identity, workspace_url(), f"{request.method} {request.path}")
    first, replayed = idempotency.answer_once(
        services().session_factory, scope, key, idempotency.fingerprint(*request_parts),
        lambda: idempotency.Answer(HTTPStatus.ACCEPTED, schema().dump(answer())),
    )
    replay = {"Idempotent-Replayed": "true"} if replayed else {}
    return first.body, first.status_code, {**pack_location(first.body["SharePackId"]), **replay}


def visible_pack(session: Session, share_pack_id: str) -> SharePack:
    """The pack if the caller may see it; otherwise NotFound, exactly like an unknown id."""
    pack = get_share_pack(session, parse_share_pack_id(share_pack_id), workspace_url=workspace_url())
    access().require_visible(session, pack)
    return pack
