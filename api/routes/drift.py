"""Drift routes: what the last Databricks sync found changed out of band, and reconcile.

`GET /workflow/sharepack/{id}/drift` shows one pack's drift, `GET /workflow/drift` the workspace's packs with
drift (and the recipients and shares no pack created), `POST /workflow/sharepack/{id}/reconcile` re-queues
a pack as an UPDATE of its own stored configuration.
"""

from __future__ import annotations

from http import HTTPStatus

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from api.context import access, asker, services, workflow, workspace_url
from api.errors import documents_errors
from api.permissions import require_project_configurator
from api.routes.share_packs import (
    COMMON_ERRORS,
    WORKSPACE_HEADER,
    accepted,
    authenticate_and_resolve_workspace,
    visible_pack,
)
from api.schemas import one_of
from shared.drift.detect import DriftKind
from shared.drift.queries import last_sync, pack_findings, packs_with_drift, unowned_findings
from shared.models import Project, SharePack, Tenant
from shared.models.history import History
from shared.platform.status import SharePackStatus
from shared.provisioning.plan import Entity
from shared.share_pack_file.model import Strategy
from shared.use_cases.queries import parse_share_pack_id
from shared.use_cases.transitions import Reconciliation

blp = Blueprint("drift", __name__, url_prefix="/workflow", description="Drift between workspaces and share packs")
blp.before_request(authenticate_and_resolve_workspace)


class FindingSchema(Schema):
    Entity = one_of(Entity)
    Name = fields.String(metadata={"description": "data objects and grants: <share>/<object or recipient>"})
    Kind = one_of(DriftKind)
    Expected = fields.Dict(allow_none=True)
    Actual = fields.Dict(allow_none=True)


class PackDriftResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    LastSync = fields.DateTime(allow_none=True)
    Drift = fields.List(fields.Nested(FindingSchema))


class PackWithDriftSchema(Schema):
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    Findings = fields.Integer()
    DetectedAt = fields.DateTime()


class DriftListResponseSchema(Schema):
    Message = fields.String()
    LastSync = fields.DateTime(allow_none=True)
    SharePacks = fields.List(fields.Nested(PackWithDriftSchema))
    Unowned = fields.List(fields.Nested(FindingSchema), metadata={"description": "what no share pack created"})


class ReconcileResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    Status = one_of(SharePackStatus)
    Strategy = one_of(Strategy)
    Drift = fields.List(fields.Nested(FindingSchema), metadata={"description": "what the reconcile puts back"})


@blp.route("/sharepack/<string:share_pack_id>/drift", parameters=[WORKSPACE_HEADER])
class SharePackDrift(MethodView):
    @blp.response(200, PackDriftResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self, share_pack_id: str):
        """What the last Databricks sync found changed out of band in this pack's objects."""
        with services().session_factory() as session:
            pack = visible_pack(session, share_pack_id)
            findings = pack_findings(session, pack.share_pack_id)
            synced = last_sync(session, pack.workspace_url)
        return {
            "Message": f"{len(findings)} drift finding{'s' if len(findings) != 1 else ''}"
            + ("" if synced else " (the workspace has not been synced yet)"),
            "SharePackId": pack.share_pack_id,
            "LastSync": synced,
            "Drift": [f.to_dict() for f in findings],
        }


@blp.route("/drift", parameters=[WORKSPACE_HEADER])
class WorkspaceDrift(MethodView):
    @blp.response(200, DriftListResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS)
    def get(self):
        """The packs of this workspace with drift the caller may see; for administrators also the recipients and
        shares no pack created."""
        with services().session_factory() as session:
            visible = access().visible(session)
            packs = packs_with_drift(session, workspace_url(), visible=visible)
            # what no pack created belongs to no tenant: only administrators (who see every tenant) see it
            unowned = unowned_findings(session, workspace_url()) if visible is None else []
            synced = last_sync(session, workspace_url())
        return {
            "Message": f"{len(packs)} share pack{'s' if len(packs) != 1 else ''} with drift",
            "LastSync": synced,
            "SharePacks": [
                {
                    "SharePackId": p.share_pack_id,
                    "SharePackName": p.share_pack_name,
                    "Findings": p.findings,
                    "DetectedAt": p.detected_at,
                }
                for p in packs
            ],
            "Unowned": [f.to_dict() for f in unowned],
        }


@blp.route("/sharepack/<string:share_pack_id>/reconcile", parameters=[WORKSPACE_HEADER])
class SharePackReconcile(MethodView):
    @blp.response(202, ReconcileResponseSchema)
    @documents_errors(blp, *COMMON_ERRORS, HTTPStatus.FORBIDDEN, HTTPStatus.CONFLICT)
    def post(self, share_pack_id: str):
        """Re-queue the pack as an UPDATE of its stored configuration, putting back what drifted."""
        result = reconcile(share_pack_id)
        return accepted({
            "Message": "Share pack queued for reconciliation",
            "SharePackId": result.share_pack_id,
            "Status": result.status,
            "Strategy": result.strategy,
            "Drift": [f.to_dict() for f in result.drift],
        })


def require_reconciler(session: Session, pack: SharePack) -> None:
    """Forbidden unless the caller configures the pack's project (or its tenant), or administers the service."""
    tenant = History(session, Tenant).current(pack.tenant_id) if pack.tenant_id else None
    project = History(session, Project).current(pack.project_id) if pack.project_id else None
    require_project_configurator(tenant, project, "reconcile its share packs")


def reconcile(share_pack_id: str) -> Reconciliation:
    """Reconcile a pack of this request's workspace for its caller (the API route and the console)."""
    return workflow().reconcile(asker(), parse_share_pack_id(share_pack_id))
