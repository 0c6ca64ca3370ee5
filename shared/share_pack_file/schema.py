"""The share pack vocabulary, declared once: sections, fields, aliases and the shape rule of every value.

These marshmallow schemas are the single source that the YAML reader (keys), the Excel reader (sheets and
columns), validation (types and formats), the JSON Schema (`json_schema.py`) and the writers (field order)
all read. A field's `metadata` carries its `description` and the `aliases` (names the original system used)
that are accepted with a warning. Rules that need more than one value (strategy-dependent requirements,
cross references, duplicates, quotas) live in `validate.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.share_pack_file.expiry import ExpiresOn, GrantExpiries
from shared.share_pack_file.issues import echo
from shared.share_pack_file.model import (
    Authentication,
    DataObjectSpec,
    DataObjectType,
    RecipientType,
    Strategy,
)
from shared.share_pack_file.sharing_fields import FederationPolicies, Partitions, Properties
from shared.share_pack_file.values import (
    MAX_NAME_LENGTH,
    Choice,
    DataObjectName,
    DelimitedList,
    Email,
    FreeText,
    IPv4Network,
    ScdChoice,
    Schedule,
    SharingIdentifier,
    Tags,
    Text,
    TimeZone,
    UnityCatalogName,
    WholeNumber,
    WorkspaceUrl,
    check_name_form,
)

MAX_ALLOWED_IPS = 100
# A share's lists, bounded before their items are checked: every Unity Catalog per-share quota added up
# (1,000 tables and views, 500 schemas, 1,000 volumes, 1,000 models), and ten times the design scale's 1,000
# recipients.
MAX_SHARE_DATA_OBJECTS = 3_500
MAX_SHARE_RECIPIENTS = 10_000
# Key columns, notification addresses: a pipeline has a handful.
MAX_LIST_ITEMS = 100
TOKEN_EXPIRY_DAYS = (1, 365)
# Free text (comments, descriptions): the default of the `max_comment_chars` setting. Databricks documents
# no limit for share and recipient comments; this one keeps every stored and echoed comment small.
DEFAULT_MAX_COMMENT_CHARS = 4096
FREE_TEXT_FIELDS = ("comment", "description")

# The Excel layout: the metadata sheet's two columns, and the data objects sheet whose rows name their share.
METADATA_COLUMNS = ("field", "value")
DATA_OBJECTS_SHEET = "data_objects"
SHARE_COLUMN = "share"
PIPELINES_SHEET = "pipelines"

UNKNOWN_FIELD = "Unknown field."
NOT_A_MAPPING = "Invalid input type."
REQUIRED = fields.Field.default_error_messages["required"]

_SHARED_AS_PART = r"[A-Za-z0-9_]{1,255}"

class _BaseSchema(Schema):
    error_messages = {"unknown": UNKNOWN_FIELD, "type": NOT_A_MAPPING}

    class Meta:
        unknown = RAISE


class DataObjectSchema(_BaseSchema):
    """A data object written as a mapping (the short form is just its name)."""

    name = Text(
        required=True,
        validate=DataObjectName(),
        metadata={"description": "catalog.schema.table (catalog.schema for a SCHEMA)."},
    )
    type = Choice(DataObjectType, metadata={"description": "TABLE (default), VIEW, SCHEMA, VOLUME or MODEL."})
    shared_as = Text(
        validate=validate.Regexp(rf"^{_SHARED_AS_PART}(\.{_SHARED_AS_PART})?$", error="Must be letters, digits "
                                 "and underscores: schema.name (just a schema name for a SCHEMA)."),
        metadata={"description": "The name recipients see: schema.name (a schema name for a SCHEMA)."},
    )
    history = fields.Boolean(metadata={"description": "Share the table history (time travel, CDF)."})
    partitions = Partitions(metadata={"description": "TABLE only: the partitions to share, each {column: value} "
                                      "or {column: {recipient_property: key}}. In Excel: region=EU, year=2024; "
                                      "country=CURRENT_RECIPIENT().country"})
    cdf_enabled = fields.Boolean(metadata={"description": "TABLE only: share the change data feed (the table "
                                           "needs delta.enableChangeDataFeed)."})
    start_version = WholeNumber(validate=validate.Range(min=0), metadata={
        "description": "TABLE only, with history: the first table version recipients may read."})


def load_flat(schema: Schema, value: Mapping[str, Any]) -> dict[str, Any]:
    """Load a flat mapping with the schema's own fields and validators, like `schema.load` but ~2x faster.

    Share packs hold tens of thousands of data objects and `Schema.load`'s per-call machinery (hooks, partial
    loading, error stores) doubles their cost. Only for schemas without hooks or nested schemas; a test keeps
    its results identical to `schema.load`.
    """
    loaded: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    declared = schema.fields
    for key, raw in value.items():
        field = declared.get(key)
        if field is None:
            errors[key] = [UNKNOWN_FIELD]
            continue
        try:
            loaded[key] = field.deserialize(raw)
        except ValidationError as exc:
            errors[key] = exc.messages
    for key, field in declared.items():
        if field.required and key not in value:
            errors[key] = [REQUIRED]
    if errors:
        raise ValidationError(errors, valid_data=loaded)
    return loaded


class DataObjectField(fields.Field):
    """A data object: `catalog.schema.table`, or a mapping loaded with `DataObjectSchema`.

    Deserialises straight to the canonical `DataObject` (lowercase names) because share packs hold tens of
    thousands of them and the short string form needs no schema load.
    """

    schema = DataObjectSchema()
    _check_name = DataObjectName()

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> DataObjectSpec:
        if isinstance(value, str):
            name = self._check_name(value.strip())  # its pattern refuses every control character
            if name.count(".") != 2:
                raise ValidationError(f"'{echo(value)}' is not a table name: write catalog.schema.table.")
            return DataObjectSpec(name=name.lower())
        if not isinstance(value, Mapping):
            raise ValidationError("Must be catalog.schema.table or a mapping with name, type, shared_as, history.")
        if len(value) == 1 and isinstance(value.get("name"), str):
            # A mapping with only a name is the short form: same rule, without a schema load per object.
            try:
                return self._deserialize(value["name"], attr, data, **kwargs)
            except ValidationError as exc:
                raise ValidationError({"name": exc.messages}) from exc
        if None in value.values():
            value = {key: item for key, item in value.items() if item is not None}
        loaded = load_flat(self.schema, value)
        kind = loaded.get("type", DataObjectType.TABLE)
        name, shared_as = loaded["name"], loaded.get("shared_as")
        parts = 2 if kind is DataObjectType.SCHEMA else 3
        if name.count(".") + 1 != parts:
            example = "catalog.schema" if parts == 2 else "catalog.schema.name"
            raise ValidationError({"name": [f"A {kind.value} is named {example} (got '{echo(name)}')."]})
        if shared_as is not None and shared_as.count(".") + 1 != parts - 1:
            example = "a schema name" if parts == 2 else "schema.name"
            raise ValidationError({"shared_as": [f"For a {kind.value} write {example} (got '{echo(shared_as)}')."]})
        table_only = [key for key in ("partitions", "cdf_enabled", "start_version") if key in loaded]
        if table_only and kind is not DataObjectType.TABLE:
            raise ValidationError({table_only[0]: [f"Only a TABLE has '{table_only[0]}' (this is a {kind.value})."]})
        if loaded.get("start_version") is not None and loaded.get("history") is False:
            raise ValidationError({"start_version": ["'start_version' needs the history shared (history: true)."]})
        return DataObjectSpec(
            name=name.lower(),
            type=kind,
            shared_as=shared_as.lower() if shared_as else None,
            history=loaded.get("history"),
            partitions=loaded.get("partitions", ()),
            cdf_enabled=loaded.get("cdf_enabled"),
            start_version=loaded.get("start_version"),
        )


SERVICE_NOW_TICKET = r"^(CHG|RITM|INC|REQ|PRB|TASK|SCTASK)[0-9]{7,10}$"
ADO_TICKET = r"^[1-9][0-9]{0,9}$"  # work item ids are positive 32-bit integers


class MetadataSchema(_BaseSchema):
    """Who asks, for which project, and what the pack does."""

    requestor = Email(required=True, metadata={"description": "E-mail address of the requestor."})
    project_name = Text(
        required=True,
        validate=[validate.Length(min=1, max=MAX_NAME_LENGTH), check_name_form],
        metadata={"description": "The project the data is shared for."},
    )
    business_line = Text(
        required=True,
        validate=[validate.Length(min=1, max=MAX_NAME_LENGTH), check_name_form],
        metadata={"description": "The business line that owns the request, e.g. Finance."},
    )
    strategy = Choice(
        Strategy,
        required=True,
        metadata={"description": "NEW creates, UPDATE changes, DELETE removes (any letter case)."},
    )
    description = FreeText(metadata={"description": "Why the data is shared."})
    workspace_url = WorkspaceUrl(
        require_tld=False,
        schemes={"http", "https"},
        metadata={"description": "The Databricks workspace to provision in (default: the service's)."},
    )
    # The change tickets the request answers to, kept with it (`requests.service_now_ticket`, `ado_ticket`).
    service_now_ticket = Text(
        validate=validate.Regexp(SERVICE_NOW_TICKET, error="Must be a ServiceNow number: CHG, RITM, INC, REQ, "
                                 "PRB, TASK or SCTASK and 7 to 10 digits, e.g. CHG0012345."),
        metadata={"description": "The ServiceNow change, request item or incident, e.g. CHG0012345.",
                  "aliases": ("ServiceNowTicket", "servicenowticket")},
    )
    ado_ticket = Text(
        validate=validate.Regexp(ADO_TICKET, error="Must be an Azure DevOps work item number, e.g. 12345."),
        metadata={"description": "The Azure DevOps work item number, e.g. 12345.",
                  "aliases": ("AdoTicket", "adoticket")},
    )


class RecipientSchema(_BaseSchema):
    """Who receives shares."""

    name = Text(required=True, validate=UnityCatalogName(), metadata={"description": "Recipient name."})
    type = Choice(
        RecipientType,
        metadata={"description": "D2O (open sharing, bearer token) or D2D (Databricks-to-Databricks)."},
    )
    email = Email(metadata={"description": "Contact e-mail (required for D2O)."})
    allowed_ips = DelimitedList(
        IPv4Network(),
        max_items=MAX_ALLOWED_IPS,
        metadata={
            "description": "D2O only: IPv4 addresses or CIDRs allowed to use the token (at most 100).",
            "aliases": ("recipient_ips",),
        },
    )
    metastore_id = Text(
        validate=SharingIdentifier(),
        metadata={
            "description": "D2D only (required): the recipient metastore's sharing identifier cloud:region:uuid.",
            "aliases": ("recipient_databricks_org",),
        },
    )
    comment = FreeText(metadata={"description": "Free text shown on the recipient."})
    token_expiry_days = WholeNumber(
        validate=validate.Range(*TOKEN_EXPIRY_DAYS),
        metadata={"description": "D2O only: bearer token lifetime in days (1..365).", "aliases": ("token_expiry",)},
    )
    expires_on = ExpiresOn(metadata={"description": "When all its access ends and is revoked: a date (00:00 "
                                     "UTC) or an ISO datetime in UTC."})
    properties = Properties(metadata={"description": "Properties (key: value; in Excel key=value, key=value), e.g. "
                                      "for CURRENT_RECIPIENT() views and partitions shared by recipient property."})
    authentication = Choice(Authentication, metadata={
        "description": "token (D2O default), databricks (D2D) or oidc_federation (D2O without a secret)."})
    federation_policies = FederationPolicies(metadata={
        "description": "oidc_federation only: OIDC policies with name, issuer (https), subject_claim (oid, azp, "
                       "groups or sub), subject, audiences. In Excel: name=..., issuer=..., subject_claim=..., "
                       "subject=..., audiences=a b; next policy"})


class ShareSchema(_BaseSchema):
    """A share, who receives it and what it holds."""

    name = Text(required=True, validate=UnityCatalogName(), metadata={"description": "Share name."})
    comment = FreeText(metadata={"description": "Free text shown on the share."})
    recipients = DelimitedList(
        Text(validate=UnityCatalogName()),
        max_items=MAX_SHARE_RECIPIENTS,
        metadata={"description": "Names of recipients declared in this pack."},
    )
    data_objects = DelimitedList(
        DataObjectField(),
        max_items=MAX_SHARE_DATA_OBJECTS,
        metadata={
            "description": "Tables as catalog.schema.table, or mappings with name, type, shared_as, history.",
            "aliases": ("share_assets",),
        },
    )
    expires_on = GrantExpiries(metadata={"description": "Recipient name: when its grant on this share ends and "
                                         "is revoked (a date, 00:00 UTC, or an ISO datetime in UTC)."})


class PipelineSchema(_BaseSchema):
    """A DLT pipeline that feeds a shared table, and when it runs."""

    name = Text(required=True, validate=UnityCatalogName(), metadata={"description": "Pipeline name."})
    source_table = Text(validate=DataObjectName(), metadata={"description": "catalog.schema.table it reads."})
    target_table = Text(
        validate=DataObjectName(),
        metadata={"description": "catalog.schema.table it writes; must be shared by a share of this pack."},
    )
    scd_type = ScdChoice(metadata={"description": "1 (default), 2 (keeps history) or full_refresh."})
    key_columns = DelimitedList(Text(validate=validate.Length(min=1, max=MAX_NAME_LENGTH)), max_items=MAX_LIST_ITEMS,
                                metadata={"description": "Columns that identify a row (required for SCD 2)."})
    schedule = Schedule(metadata={"description": "A cron expression (Quartz or Unix), or continuous."})
    timezone = TimeZone(metadata={"description": "Time zone of the cron schedule (default UTC)."})
    notification_list = DelimitedList(Email(), max_items=MAX_LIST_ITEMS,
                                      metadata={"description": "Who is e-mailed on failure."})
    serverless = fields.Boolean(metadata={"description": "Run on serverless compute (default true)."})
    tags = Tags(metadata={"description": "key=value tags put on the pipeline and its job."})


class SharePackSchema(_BaseSchema):
    """A whole share pack: the three sections of a YAML file or the sheets of a workbook."""

    metadata = fields.Nested(MetadataSchema, required=True)
    recipient = fields.List(
        fields.Nested(RecipientSchema), required=True, metadata={"aliases": ("recipients",)}
    )
    share = fields.List(fields.Nested(ShareSchema), required=True, metadata={"aliases": ("shares",)})
    pipelines = fields.List(fields.Nested(PipelineSchema), metadata={"aliases": ("pipeline",)})


SHARE_PACK_SCHEMA = SharePackSchema()


def nested_schema(field: fields.Field | None) -> Schema | None:
    """Return the schema a field's values (or list items) are loaded with, if it has one."""
    if isinstance(field, fields.List):
        field = field.inner
    if isinstance(field, fields.Nested):
        return field.schema
    if isinstance(field, DataObjectField):
        return field.schema
    return None


def section_schema(section: str) -> Schema:
    """Return the schema of one item of a top-level section (`metadata`, `recipient`, `share`)."""
    schema = nested_schema(SHARE_PACK_SCHEMA.fields[section])
    assert schema is not None
    return schema


def schema_at(path: tuple[str | int, ...]) -> Schema | None:
    """Return the schema that holds the mapping at `path` (e.g. `("share", 2, "data_objects", 0)`)."""
    schema: Schema | None = SHARE_PACK_SCHEMA
    for segment in path:
        if isinstance(segment, int):
            continue
        if schema is None:
            return None
        schema = nested_schema(schema.fields.get(segment))
    return schema


def field_names(schema: Schema) -> tuple[str, ...]:
    """Return a schema's field names in declaration order (the order writers and templates use)."""
    return tuple(schema.fields)


@cache
def _aliases(schema_class: type[Schema]) -> dict[str, str]:
    return {
        alias: name
        for name, field in schema_class._declared_fields.items()
        for alias in field.metadata.get("aliases", ())
    }


def aliases(schema: Schema) -> dict[str, str]:
    """Return `{alias: canonical field}` for a schema (names the original system used)."""
    return _aliases(type(schema))


def aliases_of(name: str) -> tuple[str, ...]:
    """Return every alias of a field name, in any schema (field names are unique across the vocabulary)."""
    return _aliases_by_field().get(name, ())


@cache
def _aliases_by_field() -> dict[str, tuple[str, ...]]:
    by_field: dict[str, tuple[str, ...]] = {}
    for schema_class in (SharePackSchema, MetadataSchema, RecipientSchema, ShareSchema, DataObjectSchema,
                         PipelineSchema):
        for alias, name in _aliases(schema_class).items():
            by_field[name] = (*by_field.get(name, ()), alias)
    return by_field


@cache
def vocabulary() -> frozenset[str]:
    """Every section, field and alias name of the share pack format (and the Excel sheets' extra columns)."""
    names = {"field", "value", SHARE_COLUMN, DATA_OBJECTS_SHEET}
    for schema_class in (SharePackSchema, MetadataSchema, RecipientSchema, ShareSchema, DataObjectSchema,
                         PipelineSchema):
        names.update(schema_class._declared_fields)
        names.update(_aliases(schema_class))
    return frozenset(names)
