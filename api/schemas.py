"""Request and response schemas; they validate input and generate the OpenAPI document (one source).

Response fields are PascalCase, as the original system's users' scripts expect.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate

from shared.platform.status import SharePackStatus, values
from shared.provisioning.plan import Action, Entity, Section
from shared.share_pack_file.model import Strategy
from shared.use_cases.lifecycle import is_configuration

# Query text never holds control characters: PostgreSQL refuses NUL in text, and the others have no
# business in a name or an e-mail address. The pattern documents the rule in ECMA syntax (OpenAPI's);
# the check itself is `refuse_control_characters`.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_NO_CONTROL_CHARACTERS_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# Documents `refuse_control_characters` for input fields (metadata of a marshmallow field).
NO_CONTROL_CHARACTERS = {"pattern": _NO_CONTROL_CHARACTERS_PATTERN}
# Documents `refuse_control_characters_but_line_breaks`: tab, line feed and carriage return are text.
NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS = {"pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"}
MAX_PAGE = 100_000
MAX_PAGE_SIZE = 200
MAX_FILTER_CHARS = 320  # bounds what a filter sends to the database; the longest e-mail (RFC 3696, errata 1690)


def refuse_control_characters(value: str) -> None:
    """Refuse text with control characters: NUL cannot be stored, the rest have no place in a name."""
    if _CONTROL_CHARACTER.search(value):
        raise ValidationError("Must not contain control characters.")


def refuse_control_characters_but_line_breaks(value: str) -> None:
    """Like `refuse_control_characters`, for free text (comments), which may span lines and use tabs."""
    if _CONTROL_CHARACTER.search(value.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise ValidationError("Must not contain control characters other than line breaks and tabs.")


def _filter_text(description: str) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=MAX_FILTER_CHARS), refuse_control_characters],
        metadata={"description": description, "pattern": _NO_CONTROL_CHARACTERS_PATTERN},
    )


def one_of(vocabulary: type[StrEnum], **kwargs: Any) -> fields.String:
    """A text field whose values are one enum's (documented as its `enum`; checked when it is input)."""
    return fields.String(validate=validate.OneOf(values(vocabulary)), **kwargs)


class ErrorSchema(Schema):
    """The one body every refusal and failure has (see `api/errors.py`)."""

    Message = fields.String(required=True)
    ErrorCode = fields.String(required=True, metadata={"description": "e.g. NOT_FOUND, INVALID_SHARE_PACK"})
    RequestId = fields.String(required=True, allow_none=True)
    Details = fields.Raw(metadata={"description": "What exactly was refused (e.g. per-field messages)"})
    ValidationErrors = fields.List(fields.Nested(lambda: IssueSchema()))
    ValidationWarnings = fields.List(fields.Nested(lambda: IssueSchema()))


class UploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "The share pack: .yaml, .yml or .xlsx"})


# The file types an upload may be (`shared.share_pack_file.parse.detect_format` reads the name and the content;
# anything else is 415), for the document: `@blp.doc(**UPLOAD_FILE_TYPES)` next to `@blp.arguments(UploadSchema)`.
UPLOAD_FILE_TYPES = {"requestBody": {"content": {"multipart/form-data": {"encoding": {"file": {
    "contentType": "application/yaml, text/yaml, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}}}}}}


class IssueSchema(Schema):
    path = fields.String(metadata={"description": "Where in the pack, e.g. recipient[1].email"})
    message = fields.String()
    location = fields.Dict(metadata={"description": "YAML line/column or Excel sheet/row/column"})


class UploadResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    Status = one_of(SharePackStatus)
    ValidationErrors = fields.List(fields.Nested(IssueSchema))
    ValidationWarnings = fields.List(fields.Nested(IssueSchema))


class _SharePackVersionSchema(Schema):
    """What every version of a share pack says about its progress."""

    Status = one_of(SharePackStatus, attribute="share_pack_status")
    ProvisioningStatus = fields.String(attribute="provisioning_status", allow_none=True)
    ErrorMessage = fields.String(attribute="error_message", allow_none=True)


class SharePackStatusSchema(_SharePackVersionSchema):
    SharePackId = fields.UUID(attribute="share_pack_id")
    SharePackName = fields.String(attribute="share_pack_name")
    Strategy = one_of(Strategy, attribute="strategy")
    RequestedBy = fields.String(attribute="requested_by")
    CreatedAt = fields.DateTime(attribute="created_at")
    LastUpdated = fields.DateTime(attribute="effective_from")


class SharePackSchema(SharePackStatusSchema):
    """One pack's answer: its status and the tickets its request answers to (see `api.routes.share_packs`)."""

    ServiceNowTicket = fields.String(attribute="service_now_ticket", allow_none=True,
                                     metadata={"description": "From the pack's metadata, e.g. CHG0012345"})
    AdoTicket = fields.String(attribute="ado_ticket", allow_none=True,
                              metadata={"description": "Azure DevOps work item number, from the pack's metadata"})


class HistoryEntrySchema(_SharePackVersionSchema):
    Version = fields.Integer(attribute="version")
    EffectiveFrom = fields.DateTime(attribute="effective_from")
    EffectiveTo = fields.DateTime(attribute="effective_to", allow_none=True)
    ChangedBy = fields.String(attribute="created_by")
    ChangeReason = fields.String(attribute="change_reason", allow_none=True)
    IsConfiguration = fields.Function(
        lambda version: is_configuration(version.change_reason),
        metadata={"description": "Whether this version stores a configuration (see RollbackTargets for which "
                                 "may be rolled back to)"},
    )


class HistoryResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    SharePackName = fields.String()
    History = fields.List(fields.Nested(HistoryEntrySchema))
    RollbackTargets = fields.List(
        fields.Integer(),
        metadata={"description": "The configuration versions a rollback may return to: every one no approver "
                                 "declined"},
    )


class PlanChangeSchema(Schema):
    """One change of a plan (`shared.provisioning.plan.Change.to_dict`)."""

    entity = one_of(Entity, required=True)
    action = one_of(Action, required=True)
    name = fields.String(required=True, metadata={"description": "data objects and grants: <object or recipient>"})
    share = fields.String(metadata={"description": "The share of a data object or grant"})
    old = fields.Dict(metadata={"description": "The definition in the workspace before the change"})
    new = fields.Dict(metadata={"description": "The definition after the change"})
    widens_access = fields.Boolean(metadata={"description": "This change opens a recipient to more IP addresses"})


# The changes of each step (a plan section), in the order the strategy carries the steps out.
PlanStepsSchema = Schema.from_dict(
    {str(section): fields.List(fields.Nested(PlanChangeSchema)) for section in Section}, name="PlanStepsSchema"
)


class PlanSchema(Schema):
    """What provisioning creates, changes and removes (`shared.provisioning.plan.Plan.to_dict`)."""

    strategy = one_of(Strategy, required=True)
    summary = fields.Dict(
        keys=fields.String(), values=fields.Integer(),
        metadata={"description": "Changes per <entity>_<action> (e.g. data_object_add), adopted and conflicts"},
    )
    steps = fields.Nested(PlanStepsSchema)
    adopted = fields.List(fields.Nested(PlanChangeSchema), metadata={"description": "Exists already as declared"})
    conflicts = fields.List(fields.String(), metadata={"description": "Why the plan must not be applied"})
    pending_activations = fields.List(fields.String(), metadata={
        "description": "Adopted D2O recipients whose activation link was never downloaded"})
    preview = fields.Boolean(metadata={"description": "Made when the request was made; the worker plans again"})
    made_at = fields.String(metadata={"description": "When the worker made this plan (ISO 8601)"})


class PlanResponseSchema(Schema):
    Message = fields.String()
    SharePackId = fields.UUID()
    Status = one_of(SharePackStatus)
    Plan = fields.Nested(PlanSchema, allow_none=True)


class PageQuerySchema(Schema):
    """The `page` and `page_size` query arguments every listing takes, with their bounds."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class ListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(values(SharePackStatus)))
    requested_by = _filter_text("E-mail of the requestor (case-insensitive)")
    project = _filter_text("Project name (case-insensitive)")


class PageSchema(Schema):
    """What every listing answers besides its rows: how many on this page, in all, and which page."""

    Message = fields.String()
    Count = fields.Integer()
    Total = fields.Integer()
    Page = fields.Integer()
    PageSize = fields.Integer()


class ListResponseSchema(PageSchema):
    SharePacks = fields.List(fields.Nested(SharePackStatusSchema))


class HealthSchema(Schema):
    Message = fields.String()
    DatabaseConnected = fields.Boolean()
    QueueConnected = fields.Boolean()
    TablesCount = fields.Integer()


class LivenessSchema(Schema):
    Message = fields.String()
