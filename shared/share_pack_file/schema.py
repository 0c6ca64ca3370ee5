"""The share pack vocabulary, declared once: sections, fields, aliases and the shape rule of every value.

These marshmallow schemas are the single source that the YAML reader (keys), the Excel reader (sheets and
columns), validation (types and formats), the JSON Schema (`json_schema.py`) and the writers (field order)
all read. A field's `metadata` carries its `description` and the `aliases` (names the original system used)
that are accepted with a warning. Rules that need more than one value (strategy-dependent requirements,
cross references, duplicates, quotas) live in `validate.py`.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.share_pack_file.cron import CONTINUOUS, CronError, check_time_zone, to_quartz
from shared.share_pack_file.expiry import ExpiresOn, GrantExpiries
from shared.share_pack_file.issues import echo
from shared.share_pack_file.model import DataObjectSpec, DataObjectType, RecipientType, ScdType, Strategy

# Unity Catalog object names: at most 255 characters, without '.', space, '/', ASCII control characters
# (00-1F hex) or DEL (7F hex); https://docs.databricks.com/en/sql/language-manual/sql-ref-names.html
MAX_NAME_LENGTH = 255
MAX_ALLOWED_IPS = 100
# A share's lists, bounded before their items are checked: every Unity Catalog per-share quota added up
# (1,000 tables and views, 500 schemas, 1,000 volumes, 1,000 models), and ten times the design scale's 1,000
# recipients.
MAX_SHARE_DATA_OBJECTS = 3_500
MAX_SHARE_RECIPIENTS = 10_000
# Key columns, notification addresses: a pipeline has a handful.
MAX_LIST_ITEMS = 100
TOKEN_EXPIRY_DAYS = (1, 365)
# An address is at most 254 characters: the 256-octet path limit of RFC 5321 (section 4.5.3.1.3) less "<>".
MAX_EMAIL_LENGTH = 254
MAX_URL_LENGTH = 2048
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

# One identifier part as Unity Catalog accepts it: no '.', space, '/', ASCII control characters or DEL; and
# as this service stores it: no C1 control characters or lone surrogates either (see `check_characters`).
_PART = r"[^. /\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}"
_FORBIDDEN_NAME_CHARS = re.compile(r"[. /\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SHARED_AS_PART = r"[A-Za-z0-9_]{1,255}"

# Every text field is stored (PostgreSQL text cannot hold NUL: https://www.postgresql.org/docs/current/
# datatype-character.html), encoded as UTF-8 (which has no lone surrogates), shown on screens and in logs,
# and sent to Databricks. The other C0 controls, DEL and the C1 controls are invisible there and can rewrite
# a terminal (ESC sequences), so they are refused everywhere. Free text (comments, descriptions) keeps tab,
# line feed and carriage return: multi-line comments are YAML block scalars or Alt+Enter in an Excel cell.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_CHARACTERS_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_characters(value: str, *, free_text: bool = False) -> str:
    """Return `value`, or raise if it holds a character no text field may hold (see `_CONTROL_CHARACTERS`)."""
    found = (_CONTROL_CHARACTERS_IN_FREE_TEXT if free_text else _CONTROL_CHARACTERS).search(value)
    if found:
        raise ValidationError(f"Must not contain the control character {echo(found.group())} (character "
                              f"{found.start() + 1}); remove it.")
    return value


class WrittenInt(int):
    """An integer that remembers the text written, so a text field reads `0x7A69` as "0x7A69", not "31337"."""

    written: str


class WrittenFloat(float):
    """A float that remembers the text written (`1e3` stays "1e3" in a text field)."""

    written: str


def written_text(value: Any) -> str:
    """Return the text a number was written as (its YAML source, or its decimal form)."""
    return getattr(value, "written", None) or str(value)


def check_name_form(value: str) -> str:
    """Return `value`, or raise if its normalised form (NFC, case folded: how names are compared and stored)
    is longer than `MAX_NAME_LENGTH`, or it holds an invisible format character (Unicode category Cf: bidi
    overrides and isolates, zero-width spaces and joiners), which would make two names look alike or show a
    name reversed (https://unicode.org/reports/tr36/#Bidirectional_Text_Spoofing)."""
    folded = unicodedata.normalize("NFC", value).casefold()
    longest = max(len(folded), len(value.lower()))
    if longest > MAX_NAME_LENGTH:
        raise ValidationError(f"Must be at most {MAX_NAME_LENGTH} characters once lower-cased (has {longest:,}).")
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cf":
            raise ValidationError(f"Must not contain the invisible character U+{ord(char):04X} "
                                  f"({unicodedata.name(char, 'format character')}, character {position}).")
    return value


class UnityCatalogName(validate.Validator):
    """Refuse share and recipient names Unity Catalog refuses (see `MAX_NAME_LENGTH`), and names that would
    show as another name (see `check_name_form`)."""

    pattern = rf"^{_PART}$"

    def __call__(self, value: str) -> str:
        if not value:
            raise ValidationError("Must not be empty.")
        if len(value) > MAX_NAME_LENGTH:
            raise ValidationError(f"Must be at most {MAX_NAME_LENGTH} characters (has {len(value)}).")
        bad = _FORBIDDEN_NAME_CHARS.search(value)
        if bad:
            char = {".": "'.'", " ": "a space", "/": "'/'"}.get(bad.group(), "a control character")
            raise ValidationError(f"Must not contain {char} (Unity Catalog refuses it in names).")
        return check_name_form(value)


class DataObjectName(validate.Validator):
    """Accept `catalog.schema` or `catalog.schema.object`, each part a name Unity Catalog accepts."""

    pattern = rf"^{_PART}\.{_PART}(\.{_PART})?$"
    _match = re.compile(pattern).fullmatch

    def __call__(self, value: str) -> str:
        if not self._match(value):
            raise ValidationError(
                f"'{echo(value)}' is not a data object name: write catalog.schema.table (catalog.schema for a "
                "SCHEMA), each part without spaces, '/' or control characters."
            )
        if not value.isascii():
            for part in value.split("."):
                check_name_form(part)
        return value


class SharingIdentifier(validate.Regexp):
    """A D2D recipient's metastore sharing identifier, `cloud:region:uuid`."""

    def __init__(self) -> None:
        super().__init__(
            r"^(aws|azure|gcp):[a-z0-9-]+:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            flags=re.IGNORECASE,
            error="Must be a sharing identifier cloud:region:uuid (cloud is aws, azure or gcp), "
            "e.g. azure:westeurope:1b2c3d4e-0000-4a5b-8c9d-0123456789ab.",
        )


class Text(fields.String):
    """A string without control characters; numbers are taken as their text, because `project_name: 2024`
    or an Excel number cell means the characters the requestor typed."""

    free_text = False

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = written_text(value)
        return check_characters(super()._deserialize(value, attr, data, **kwargs), free_text=self.free_text)


class FreeText(Text):
    """A comment or description: may span lines (tab, line feed, carriage return); its length is bounded
    by the `max_comment_chars` setting when the pack is validated."""

    free_text = True


class Email(fields.Email):
    """An e-mail address of at most `MAX_EMAIL_LENGTH` characters, without control characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            check_characters(value)
            if len(value) > MAX_EMAIL_LENGTH:
                raise ValidationError(f"Must be at most {MAX_EMAIL_LENGTH} characters (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


class WorkspaceUrl(fields.Url):
    """An http(s) URL of at most `MAX_URL_LENGTH` characters, without control characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            check_characters(value)
            if len(value) > MAX_URL_LENGTH:
                raise ValidationError(f"Must be at most {MAX_URL_LENGTH} characters (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


class Choice(fields.Field):
    """A StrEnum member written in any letter case (`new`, `New`, `NEW`)."""

    def __init__(self, enum: type[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum = enum
        self.choices = tuple(member.value for member in enum)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            member = self.enum.__members__.get(value.strip().upper())
            if member is not None:
                return member
        raise ValidationError(f"Must be one of {', '.join(self.choices)} (got '{echo(value)}').")


class WholeNumber(fields.Integer):
    """An integer; also accepts `90.0` and `"90"` (how Excel cells arrive), never `true` or `90.5`."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid", input=value)
        if isinstance(value, str) and not value.strip().isdigit():
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class IPv4Network(fields.Field):
    """One IPv4 address or CIDR, normalised to its text (Delta Sharing IP access lists are IPv4 only)."""

    pattern = r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$"

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be an IPv4 address or CIDR as text.")
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValidationError(
                f"'{echo(value)}' is not an IPv4 address or CIDR (e.g. 203.0.113.7 or 10.0.0.0/16)."
            ) from None
        if network.version != 4:
            raise ValidationError(f"'{echo(value)}' is IPv6; Delta Sharing IP access lists accept IPv4 only.")
        return value.strip()


def split_delimited(text: str) -> list[str]:
    """Split one cell of items separated by commas or new lines, dropping blanks."""
    return [item for item in (part.strip() for part in re.split(r"[,\n]", text)) if item]


class DelimitedList(fields.List):
    """A list, or one string of items separated by commas or new lines (how Excel cells and the original
    system's sheets hold lists), of at most `max_items` items: counted before any item is checked, so one
    line of a hundred thousand bad items costs one message, not a hundred thousand checks."""

    def __init__(self, inner: fields.Field, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list:
        if isinstance(value, str):
            value = split_delimited(value)
        if isinstance(value, list) and len(value) > self.max_items:
            raise ValidationError(f"At most {self.max_items:,} items (has {len(value):,}).")
        return super()._deserialize(value, attr, data, **kwargs)


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
        return DataObjectSpec(
            name=name.lower(),
            type=kind,
            shared_as=shared_as.lower() if shared_as else None,
            history=loaded.get("history"),
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


class Schedule(Text):
    """``continuous``, or a cron expression (Quartz, or Unix converted to Quartz) as Databricks Jobs reads it."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if text.lower() == CONTINUOUS:
            return CONTINUOUS
        try:
            return to_quartz(text)
        except CronError as exc:
            raise ValidationError(str(exc)) from None


class TimeZone(Text):
    """An IANA time zone id, as the Jobs schedule's ``timezone_id`` needs."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        try:
            return check_time_zone(super()._deserialize(value, attr, data, **kwargs).strip())
        except CronError as exc:
            raise ValidationError(str(exc)) from None


class ScdChoice(fields.Field):
    """1, 2 or full_refresh (numbers may arrive as numbers or text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> ScdType:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"Must be 1, 2 or full_refresh (got '{value}').")
        text = str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        text = text.strip().lower().replace(" ", "_").removeprefix("scd").strip("_")
        try:
            return ScdType(text)
        except ValueError:
            raise ValidationError(f"Must be 1, 2 or full_refresh (got '{value}').") from None


class Tags(fields.Field):
    """A mapping of tag names to values, or one ``key=value, key=value`` text (an Excel cell)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, str]:
        if isinstance(value, str):
            pairs = [item.partition("=") for item in split_delimited(value)]
            if any(not sep or not key.strip() for key, sep, _ in pairs):
                raise ValidationError("Write tags as key=value, separated by commas.")
            value = {key.strip(): item.strip() for key, _, item in pairs}
        if not isinstance(value, Mapping) or any(isinstance(v, Mapping | list) for v in value.values()):
            raise ValidationError("Must be a mapping of tag names to values.")
        if len(value) > 25:  # pipelines accept at most 25 tags (databricks-sdk CreatePipeline.tags)
            raise ValidationError(f"At most 25 tags (has {len(value)}).")
        return {str(key): str(item) for key, item in value.items()}


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
