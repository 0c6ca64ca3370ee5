"""Inventory routes: every share and recipient of the workspace the caller may see, and any of them as a pack.

`GET /workflow/inventory/shares` and `/recipients` list them with their owners (like Databricks' "Shared by
me", across packs); `POST /workflow/inventory/export` answers an UPDATE share pack describing the named
objects as they are, and the warnings for what the format cannot carry. All read the workspace live.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import access, caller, services, workspace_url
from api.errors import ROUTE_ERRORS, documents_errors
from api.routes.share_packs import WORKSPACE_HEADER, authenticate_and_resolve_workspace
from api.schemas import NO_CONTROL_CHARACTERS, PageQuerySchema, PageSchema, _filter_text, refuse_control_characters
from shared.platform.errors import ServiceUnavailable
from shared.platform.pagination import Page
from shared.provisioning.workspace_state import SharedObjectState
from shared.use_cases.inventory import (
    Estate,
    ExportFormat,
    Ownership,
    RecipientEntry,
    ShareEntry,
    export_pack,
    page_of,
    read_estate,
)

blp = Blueprint("inventory", __name__, url_prefix="/workflow/inventory",
                description="Every share and recipient of a workspace, and export as a share pack")
blp.before_request(authenticate_and_resolve_workspace)

NAMES = fields.List(
    fields.String(validate=[validate.Length(min=1, max=255), refuse_control_characters],
                  metadata=NO_CONTROL_CHARACTERS),
    validate=validate.Length(max=500),
    load_default=list,
)


class InventoryQuerySchema(PageQuerySchema):
    project = _filter_text("Owning project's name (case-insensitive), or UNMANAGED for what no project owns")
    search = _filter_text("Text the name contains (case-insensitive)")


class OwnerFields(Schema):
    Project = fields.String(metadata={"description": "The owning project, or UNMANAGED"})
    BusinessLine = fields.String(allow_none=True)
    SharePackId = fields.UUID(allow_none=True, metadata={"description": "The pack that manages it, if any"})
    SharePackName = fields.String(allow_none=True)


EXPIRES_ON = {"description": "When the sync service revokes it: the `expires_on` of the completed share pack "
                             "that gave it (null: it does not expire)"}


class PartitionConditionSchema(Schema):
    Column = fields.String()
    Value = fields.String(allow_none=True, metadata={"description": "The literal value (null: NULL, or a "
                                                                    "recipient property instead)"})
    RecipientProperty = fields.String(allow_none=True, metadata={
        "description": "The recipient property whose value the column must equal (CURRENT_RECIPIENT())"})


class PartitionSchema(Schema):
    Conditions = fields.List(fields.Nested(PartitionConditionSchema),
                             metadata={"description": "Column conditions that all hold"})


class DataObjectSchema(Schema):
    Name = fields.String()
    Type = fields.String()
    SharedAs = fields.String(allow_none=True)
    History = fields.Boolean(allow_none=True)
    Partitions = fields.List(fields.Nested(PartitionSchema),
                             metadata={"description": "The partitions shared (empty: the whole table)"})
    CdfEnabled = fields.Boolean(allow_none=True, metadata={"description": "Whether its change data feed is shared"})
    StartVersion = fields.Integer(allow_none=True, metadata={"description": "The first version recipients read"})


class ShareGrantSchema(Schema):
    Recipient = fields.String()
    ExpiresOn = fields.DateTime(allow_none=True, metadata=EXPIRES_ON)


class ShareItemSchema(OwnerFields):
    Name = fields.String()
    Comment = fields.String(allow_none=True)
    Objects = fields.List(fields.Nested(DataObjectSchema))
    Grantees = fields.List(fields.String())
    Grants = fields.List(fields.Nested(ShareGrantSchema), metadata={"description": "Each grantee's grant"})


class FederationPolicySchema(Schema):
    Name = fields.String()
    Issuer = fields.String()
    SubjectClaim = fields.String()
    Subject = fields.String()
    Audiences = fields.List(fields.String())
    Comment = fields.String(allow_none=True)


class RecipientGrantSchema(Schema):
    Share = fields.String()
    ExpiresOn = fields.DateTime(allow_none=True, metadata=EXPIRES_ON)


class RecipientItemSchema(OwnerFields):
    Name = fields.String()
    AuthenticationType = fields.String(metadata={
        "description": "Databricks' authentication type: TOKEN (D2O), DATABRICKS (D2D) or OIDC_FEDERATION (D2O "
                       "through the recipient's own identity provider)"})
    Activated = fields.Boolean()
    TokenExpiresAt = fields.DateTime(allow_none=True)
    MetastoreId = fields.String(allow_none=True)
    AllowedIps = fields.List(fields.String())
    Comment = fields.String(allow_none=True)
    Properties = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Its custom properties (Databricks' predefined databricks.* ones left out)"})
    FederationPolicies = fields.List(fields.Nested(FederationPolicySchema), metadata={
        "description": "Whose OIDC tokens may read its shares (OIDC_FEDERATION only)"})
    ExpiresOn = fields.DateTime(allow_none=True, metadata=EXPIRES_ON)
    Shares = fields.List(fields.String(), metadata={"description": "The shares granted to it"})
    Grants = fields.List(fields.Nested(RecipientGrantSchema), metadata={"description": "Each share's grant"})


class SharesPageSchema(PageSchema):
    Shares = fields.List(fields.Nested(ShareItemSchema))


class RecipientsPageSchema(PageSchema):
    Recipients = fields.List(fields.Nested(RecipientItemSchema))


class ExportSchema(Schema):
    # The rule `export_pack` enforces, for the document: at least one share or recipient is named.
    OPENAPI_EXTRA: ClassVar[dict[str, Any]] = {"anyOf": [
        {"required": [field], "properties": {field: {"minItems": 1}}} for field in ("Shares", "Recipients")
    ]}

    Shares = NAMES
    Recipients = NAMES
    Format = fields.String(load_default=ExportFormat.YAML.value,
                           validate=validate.OneOf([f.value for f in ExportFormat]))


class ExportResponseSchema(Schema):
    Message = fields.String()
    Format = fields.String(validate=validate.OneOf([f.value for f in ExportFormat]))
    FileName = fields.String()
    Encoding = fields.String(validate=validate.OneOf(["utf-8", "base64"]),
                             metadata={"description": "utf-8 (YAML text) or base64 (an .xlsx workbook)"})
    Content = fields.String(metadata={"description": "The share pack file"})
    Warnings = fields.List(fields.String(), metadata={"description": "What the file does not say, and why"})


def estate_of(url: str) -> Estate:
    """What this request's caller sees of workspace ``url`` (the API routes and the console).

    Raises:
        ServiceUnavailable: no Databricks credentials here, or the workspace could not be read.
    """
    svc = services()
    if svc.reader_for is None:
        raise ServiceUnavailable("The inventory needs Databricks credentials, which this deployment does not have")
    with svc.session_factory() as session:
        return read_estate(session, access(), svc.reader_for(url), url)  # type: ignore[arg-type]


def _owner(owner: Ownership) -> dict[str, Any]:
    return {"Project": owner.project, "BusinessLine": owner.business_line, "SharePackId": owner.share_pack_id,
            "SharePackName": owner.share_pack_name}


def _page(page: Page[Any], key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Message": f"{len(rows)} of {page.total} {key.lower()}", "Count": len(rows), "Total": page.total,
            "Page": page.page, "PageSize": page.page_size, key: rows}


def _data_object(obj: SharedObjectState) -> dict[str, Any]:
    partitions = [{"Conditions": [{"Column": c.name, "Value": c.value, "RecipientProperty": c.recipient_property}
                                  for c in partition]} for partition in obj.partitions]
    return {"Name": obj.name, "Type": obj.type, "SharedAs": obj.alias, "History": obj.history,
            "Partitions": partitions, "CdfEnabled": obj.cdf_enabled, "StartVersion": obj.start_version}


def _share(entry: ShareEntry) -> dict[str, Any]:
    objects = [_data_object(o) for o in sorted(entry.state.objects, key=lambda o: (o.name, o.alias or ""))]
    grants = [{"Recipient": r, "ExpiresOn": entry.grant_expiries.get(r)} for r in entry.grantees]
    return {"Name": entry.state.name, "Comment": entry.state.comment, "Objects": objects,
            "Grantees": entry.grantees, "Grants": grants, **_owner(entry.owner)}


def _recipient(entry: RecipientEntry) -> dict[str, Any]:
    state = entry.state
    policies = [{"Name": p.name, "Issuer": p.issuer, "SubjectClaim": p.subject_claim, "Subject": p.subject,
                 "Audiences": list(p.audiences), "Comment": p.comment} for p in state.federation_policies]
    grants = [{"Share": s, "ExpiresOn": entry.grant_expiries.get(s)} for s in entry.shares]
    return {"Name": state.name, "AuthenticationType": state.authentication_type, "Activated": state.activated,
            "TokenExpiresAt": entry.token_expires_at, "MetastoreId": state.data_recipient_global_metastore_id,
            "AllowedIps": sorted(state.allowed_ips), "Comment": state.comment, "Properties": dict(state.properties),
            "FederationPolicies": policies, "ExpiresOn": entry.expires_on, "Shares": entry.shares, "Grants": grants,
            **_owner(entry.owner)}


@blp.route("/shares", parameters=[WORKSPACE_HEADER])
class InventoryShares(MethodView):
    @blp.arguments(InventoryQuerySchema, location="query")
    @blp.response(200, SharesPageSchema)
    @documents_errors(blp, *ROUTE_ERRORS)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every share of the workspace the caller sees, with objects, grantees, owning project and pack."""
        page = page_of(estate_of(workspace_url()).shares.values(), **args)
        return _page(page, "Shares", [_share(entry) for entry in page.items])


@blp.route("/recipients", parameters=[WORKSPACE_HEADER])
class InventoryRecipients(MethodView):
    @blp.arguments(InventoryQuerySchema, location="query")
    @blp.response(200, RecipientsPageSchema)
    @documents_errors(blp, *ROUTE_ERRORS)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every recipient of the workspace the caller sees, with authentication, activation, token expiry
        and owning project and pack."""
        page = page_of(estate_of(workspace_url()).recipients.values(), **args)
        return _page(page, "Recipients", [_recipient(entry) for entry in page.items])


@blp.route("/export", parameters=[WORKSPACE_HEADER])
class InventoryExport(MethodView):
    @blp.arguments(ExportSchema, location="json")
    @blp.response(200, ExportResponseSchema)
    @documents_errors(blp, *ROUTE_ERRORS)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A share pack (UPDATE) describing these shares and recipients as they are, with what it cannot say."""
        fmt = ExportFormat(body["Format"])
        exported = export_pack(estate_of(workspace_url()), shares=body["Shares"], recipients=body["Recipients"],
                               fmt=fmt, requestor=caller().identity, workspace_url=workspace_url())
        binary = fmt is ExportFormat.XLSX
        return {
            "Message": f"Exported {exported.filename} with {len(exported.warnings)} warnings",
            "Format": fmt.value,
            "FileName": exported.filename,
            "Encoding": "base64" if binary else "utf-8",
            "Content": base64.b64encode(exported.content).decode() if binary else exported.content.decode(),
            "Warnings": exported.warnings,
        }
