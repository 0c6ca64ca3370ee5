"""Request and response schemas; they validate input and generate the OpenAPI document (one source).

Response fields are PascalCase, as the original system's users' scripts expect.
"""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from shared.status import SharePackStatus, values


class UploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "The share pack: .yaml, .yml or .xlsx"})


class IssueSchema(Schema):
    path = fields.String(metadata={"description": "Where in the pack, e.g. recipient[1].email"})
    message = fields.String()
    location = fields.Dict(metadata={"description": "YAML line/column or Excel sheet/row/column"})


class UploadResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    Status = fields.String()
    ValidationErrors = fields.List(fields.Nested(IssueSchema))
    ValidationWarnings = fields.List(fields.Nested(IssueSchema))


class _SharePackVersionSchema(Schema):
    """What every version of a share pack says about its progress."""

    Status = fields.String(attribute="share_pack_status")
    ProvisioningStatus = fields.String(attribute="provisioning_status", allow_none=True)
    ErrorMessage = fields.String(attribute="error_message", allow_none=True)


class SharePackStatusSchema(_SharePackVersionSchema):
    SharePackId = fields.UUID(attribute="share_pack_id")
    SharePackName = fields.String(attribute="share_pack_name")
    Strategy = fields.String(attribute="strategy")
    RequestedBy = fields.String(attribute="requested_by")
    CreatedAt = fields.DateTime(attribute="created_at")
    LastUpdated = fields.DateTime(attribute="effective_from")


class HistoryEntrySchema(_SharePackVersionSchema):
    Version = fields.Integer(attribute="version")
    EffectiveFrom = fields.DateTime(attribute="effective_from")
    EffectiveTo = fields.DateTime(attribute="effective_to", allow_none=True)
    ChangedBy = fields.String(attribute="created_by")
    ChangeReason = fields.String(attribute="change_reason", allow_none=True)


class HistoryResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    History = fields.List(fields.Nested(HistoryEntrySchema))


class PlanResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    Status = fields.String()
    Plan = fields.Dict(allow_none=True)


class ListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(values(SharePackStatus)))
    requested_by = fields.String()
    project = fields.String()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ListResponseSchema(Schema):
    Message = fields.String()
    Count = fields.Integer()
    Total = fields.Integer()
    Page = fields.Integer()
    PageSize = fields.Integer()
    SharePacks = fields.List(fields.Nested(SharePackStatusSchema))


class HealthSchema(Schema):
    Message = fields.String()
    DatabaseConnected = fields.Boolean()
    QueueConnected = fields.Boolean()
    TablesCount = fields.Integer()


class LivenessSchema(Schema):
    Message = fields.String()
