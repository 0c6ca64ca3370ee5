"""Administration: local groups, tenants, projects and imports of objects made outside this service.

Administrators only, except projects, which a tenant's configurators may also create and change (all but
their approver groups: whoever sets those could approve their own work).
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import access, authenticate, services
from api.errors import ROUTE_ERRORS, documents_errors
from api.schemas import NO_CONTROL_CHARACTERS, one_of, refuse_control_characters
from shared.access.administration import (
    REGIONS,
    ObjectImport,
    ProjectSpec,
    RecipientImport,
    TenantSpec,
    TenantView,
    import_objects,
    list_tenants,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.workspaces import resolve_workspace_url
from shared.platform.settings import AZURE_WORKSPACE_URL
from shared.platform.status import ApprovalRule, values

blp = Blueprint("administration", __name__, url_prefix="/workflow", description="Administration")

NAME = [validate.Length(min=1, max=255), refuse_control_characters]


def name(**kwargs: Any) -> fields.String:
    """A group, tenant, project or object name: 1 to 255 characters, none of them a control character."""
    return fields.String(validate=NAME, metadata=NO_CONTROL_CHARACTERS, **kwargs)

# A DNS name (RFC 1035 labels, at least two), as the part of an e-mail address after the "@".
DOMAIN = validate.Regexp(r"^@?(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$",
                         error="Must be a domain name such as example.com.")


def names() -> fields.List:
    return fields.List(name(), validate=validate.Length(max=1000), load_default=list)


class GroupSchema(Schema):
    Members = fields.List(name(), required=True, validate=validate.Length(max=10000))


class TenantSchema(Schema):
    # One workspace per region at most: a schema of the regions (not a dict with checked keys), so the
    # document names the keys a client may send (OpenAPI 3.0 has no `propertyNames`).
    Workspaces = fields.Nested(
        Schema.from_dict({region: fields.String(validate=NAME, metadata={
            "pattern": AZURE_WORKSPACE_URL.pattern,
            "description": "The region's Azure Databricks workspace (in development also a configured "
                           "development workspace)",
        }) for region in REGIONS}, name="RegionWorkspacesSchema"),
        required=True,
    )
    ConfiguratorGroups = names()
    ApprovalRequired = fields.String(required=True, validate=validate.OneOf(values(ApprovalRule)))
    # Omitted: kept as they are.
    ShareableScope = fields.List(name(), validate=validate.Length(max=500), load_default=None)
    OwnMetastores = fields.List(name(), validate=validate.Length(max=500), load_default=None)
    AllowedEmailDomains = fields.List(
        fields.String(validate=DOMAIN), validate=validate.Length(max=100), load_default=None,
        metadata={"description": "Domains D2O recipients' and pipeline notifications' addresses must be in "
                  "(subdomains included); empty: any. Left out: unchanged."},
    )


class ProjectSchema(Schema):
    ApproverGroups = fields.List(
        name(), validate=validate.Length(max=1000), load_default=None,
        metadata={"description": "Administrators only (a configurator may send the current ones unchanged); "
                                 "omitted: the project keeps its approver groups"},
    )
    ConfiguratorGroups = names()
    ShareableScope = fields.List(name(), validate=validate.Length(max=500), load_default=None)


class RecipientImportSchema(Schema):
    Name = name(required=True)
    Type = fields.String(required=True, validate=validate.OneOf(("D2O", "D2D")))


class ImportSchema(Schema):
    BusinessLine = name(required=True)
    ProjectName = name(required=True)
    WorkspaceUrl = name(required=True)
    Recipients = fields.List(
        fields.Nested(RecipientImportSchema), load_default=list, validate=validate.Length(max=1000)
    )
    Shares = names()


class TenantResponseSchema(Schema):
    BusinessLine = fields.String()
    TenantId = fields.UUID()
    Workspaces = fields.Dict(keys=fields.String(), values=fields.String())
    ConfiguratorGroups = fields.List(fields.String())
    ApprovalRequired = one_of(ApprovalRule)
    AllowedEmailDomains = fields.List(fields.String())
    Version = fields.Integer()
    ShareableScope = fields.List(fields.String())
    OwnMetastores = fields.List(fields.String())
    GroupNames = fields.Dict(keys=fields.String(), values=fields.String())


class TenantListSchema(Schema):
    Message = fields.String()
    Tenants = fields.List(fields.Nested(TenantResponseSchema))


class ChangedSchema(Schema):
    Message = fields.String()
    Id = fields.UUID()
    Version = fields.Integer()


class ImportResponseSchema(Schema):
    Message = fields.String()
    ProjectId = fields.UUID()
    Recipients = fields.List(fields.String())
    Shares = fields.List(fields.String())


@blp.before_request
def _authenticate() -> None:
    authenticate()


def _tenant(view: TenantView) -> dict[str, Any]:
    return {
        "BusinessLine": view.business_line,
        "TenantId": view.tenant_id,
        "Workspaces": view.workspaces,
        "ConfiguratorGroups": view.configurator_groups,
        "ApprovalRequired": view.approval_required,
        "AllowedEmailDomains": view.allowed_email_domains,
        "Version": view.version,
        "ShareableScope": view.shareable_scope,
        "OwnMetastores": view.own_metastores,
        "GroupNames": view.group_names,
    }


@blp.route("/groups/<string:group_name>")
class Group(MethodView):
    @blp.arguments(GroupSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, ChangedSchema)
    def put(self, body: dict[str, Any], group_name: str) -> dict[str, Any]:
        """Create or replace a local group's members (synced directory groups cannot be edited)."""
        row = put_local_group(
            services().session_factory, access(), group_name, body["Members"], request_id=g.get("request_id")
        )
        return {"Message": f"Group {row.group_name} has {len(row.members)} members", "Id": row.group_id,
                "Version": row.version}


@blp.route("/tenants")
class Tenants(MethodView):
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, TenantListSchema)
    def get(self) -> dict[str, Any]:
        """Every registered tenant with its workspaces, configurator groups and approval rule."""
        with services().session_factory() as session:
            tenants = list_tenants(session, access())
        return {"Message": f"{len(tenants)} tenants", "Tenants": [_tenant(t) for t in tenants]}


@blp.route("/tenants/<string:business_line>")
class TenantByName(MethodView):
    @blp.arguments(TenantSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, TenantResponseSchema)
    def put(self, body: dict[str, Any], business_line: str) -> dict[str, Any]:
        """Register or change a tenant."""
        svc = services()
        view = put_tenant(
            svc.session_factory,
            access(),
            svc.settings,
            TenantSpec(
                business_line,
                workspaces=body["Workspaces"],
                configurator_groups=body["ConfiguratorGroups"],
                approval_required=body["ApprovalRequired"],
                shareable_scope=body["ShareableScope"],
                own_metastores=body["OwnMetastores"],
                allowed_email_domains=body["AllowedEmailDomains"],
            ),
            request_id=g.get("request_id"),
        )
        return _tenant(view)


@blp.route("/tenants/<string:business_line>/projects/<string:project_name>")
class ProjectByName(MethodView):
    @blp.arguments(ProjectSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, ChangedSchema)
    def put(self, body: dict[str, Any], business_line: str, project_name: str) -> dict[str, Any]:
        """Create or change a project of a registered tenant."""
        project = put_project(
            services().session_factory,
            access(),
            ProjectSpec(
                business_line,
                project_name,
                approver_groups=body["ApproverGroups"],
                configurator_groups=body["ConfiguratorGroups"],
                shareable_scope=body["ShareableScope"],
            ),
            request_id=g.get("request_id"),
        )
        return {"Message": f"Project {project.project_name}", "Id": project.project_id, "Version": project.version}


@blp.route("/imports")
class Imports(MethodView):
    @blp.arguments(ImportSchema, location="json")
    @documents_errors(blp, *ROUTE_ERRORS)
    @blp.response(200, ImportResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Put recipients and shares made outside this service under a project's ownership, once."""
        svc = services()
        workspace = resolve_workspace_url(svc.session_factory, svc.settings, body["WorkspaceUrl"])
        result = import_objects(
            svc.session_factory,
            access(),
            ObjectImport(
                business_line=body["BusinessLine"],
                project_name=body["ProjectName"],
                workspace_url=workspace,
                recipients=[RecipientImport(r["Name"], r["Type"]) for r in body["Recipients"]],
                shares=body["Shares"],
            ),
            request_id=g.get("request_id"),
        )
        return {
            "Message": f"Imported {len(result.recipients)} recipients and {len(result.shares)} shares",
            "ProjectId": result.project_id,
            "Recipients": result.recipients,
            "Shares": result.shares,
        }
