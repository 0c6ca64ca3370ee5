"""The share pack fields that say what Databricks can share beyond names: recipient properties, OIDC
federation policies, and a shared table's partitions.

Each is a mapping or list in YAML and one cell of text in Excel, so each field reads both forms and
`cell_text` writes the second. The cell syntax is one for all three: items separated by ``;`` or new lines,
``key=value`` pairs in an item separated by commas, a value in single quotes when it holds ``,;=`` (``''``
for a quote). A partition condition on a recipient property is written as Databricks SQL writes it:
``country=CURRENT_RECIPIENT().country``
(https://docs.databricks.com/en/delta-sharing/create-share.html#specify-table-partitions-to-share).

Field names follow databricks-sdk: `RecipientInfo.properties_kvpairs`, `FederationPolicy.oidc_policy`
(`OidcFederationPolicy` issuer, audiences, subject_claim, subject), `PartitionValue` (name, value,
recipient_property_key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError, fields

from shared.share_pack_file.issues import echo
from shared.share_pack_file.model import FederationPolicySpec, Partition, PartitionValueSpec

# Recipient properties: 'databricks.' keys are predefined by Databricks (databricks.accountId, ...) and cannot
# be set (https://docs.databricks.com/en/delta-sharing/manage-recipients.html#manage-recipient-properties).
RESERVED_PROPERTY_PREFIX = "databricks."
MAX_PROPERTIES = 100
MAX_PROPERTY_TEXT = 1024
MAX_PARTITIONS = 100
MAX_FEDERATION_POLICIES = 20
MAX_AUDIENCES = 20
# `FederationPolicy.name`: "lowercase alphanumeric characters, numbers, and hyphens" (databricks-sdk 0.162).
_POLICY_NAME = re.compile(r"^[a-z0-9-]{1,255}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_SUBJECT_CLAIMS = ("oid", "azp", "groups", "sub")  # OidcFederationPolicy.subject_claim's documented values
_CURRENT_RECIPIENT = re.compile(r"^current_recipient\(\)\.(?P<key>.+)$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CELL = {"type": "string", "description": "One Excel cell: key=value pairs separated by commas, items by ';'."}
_RECIPIENT_PROPERTY = {"type": "object", "properties": {"recipient_property": {"type": "string"}},
                       "required": ["recipient_property"], "additionalProperties": False}


def _text(value: Any, what: str, *, limit: int = MAX_PROPERTY_TEXT) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{what} must be text (got {type(value).__name__}).")
    text = str(getattr(value, "written", None) or value).strip()
    if not text:
        raise ValidationError(f"{what} must not be empty.")
    if len(text) > limit:
        raise ValidationError(f"{what} must be at most {limit} characters (has {len(text):,}).")
    if _CONTROL.search(text):
        raise ValidationError(f"{what} must not contain control characters.")
    return text


def split_items(cell: str) -> list[list[tuple[str, str]]]:
    """Split a cell into items (``;`` or new line) of ``key=value`` pairs (commas), honouring quotes."""
    items: list[list[tuple[str, str]]] = []
    pairs: list[tuple[str, str]] = []
    token, key, quoted, index = "", None, False, 0
    while index < len(cell):
        char = cell[index]
        if quoted:
            if char == "'" and cell[index + 1:index + 2] == "'":
                token, index = token + "'", index + 2
                continue
            quoted = char != "'"
            token += char if quoted else ""
        elif char == "'" and not token.strip():
            quoted, token = True, ""
        elif char == "=" and key is None:
            key, token = token.strip(), ""
        elif char in ",;\n":
            if key is None and token.strip():
                raise ValidationError(f"'{echo(token.strip())}' is not key=value.")
            if key is not None:
                pairs.append((key, token.strip()))
            key, token = None, ""
            if char != "," and pairs:
                items.append(pairs)
                pairs = []
        else:
            token += char
        index += 1
    if quoted:
        raise ValidationError("A quoted value is not closed (write '' for a quote inside quotes).")
    if key is None and token.strip():
        raise ValidationError(f"'{echo(token.strip())}' is not key=value.")
    if key is not None:
        pairs.append((key, token.strip()))
    if pairs:
        items.append(pairs)
    return items


def _quote(value: str) -> str:
    return f"'{value.replace(chr(39), chr(39) * 2)}'" if re.search(r"[,;=\n']|^\s|\s$", value) else value


class Properties(fields.Field):
    """Recipient properties: a mapping of keys to text, or ``key=value, key=value`` in a cell."""

    json_shape = {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"},
                             "maxProperties": MAX_PROPERTIES}, _CELL]}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> dict:
        if isinstance(value, str):
            value = {key: item for pairs in split_items(value) for key, item in pairs}
        if not isinstance(value, Mapping):
            raise ValidationError("Must be a mapping of property names to values (key=value in a cell).")
        if len(value) > MAX_PROPERTIES:
            raise ValidationError(f"At most {MAX_PROPERTIES} properties (has {len(value)}).")
        loaded, errors = {}, {}
        for key, item in value.items():
            try:
                name = _text(key, "A property name", limit=255)
                if not _PROPERTY_KEY.match(name):
                    raise ValidationError(f"Property name '{echo(name)}' may hold letters, digits, '_', '-' and "
                                          "'.' only.")
                if name.lower().startswith(RESERVED_PROPERTY_PREFIX):
                    raise ValidationError(f"Property '{echo(name)}' is predefined by Databricks and cannot be "
                                          "set.")
                loaded[name] = _text(item, f"Property '{echo(name)}'")
            except ValidationError as exc:
                errors[str(key)] = exc.messages
        if errors:
            raise ValidationError(errors)
        return loaded


def _partition_value(column: Any, value: Any) -> PartitionValueSpec:
    name = _text(column, "A partition column", limit=255)
    if not _COLUMN.match(name):
        raise ValidationError(f"'{echo(name)}' is not a column name (letters, digits and '_').")
    if isinstance(value, Mapping):
        if set(value) != {"recipient_property"}:
            raise ValidationError(f"Column '{name}': write a value, or {{recipient_property: key}}.")
        return PartitionValueSpec(name.lower(), recipient_property=_text(value["recipient_property"],
                                                                         "recipient_property", limit=255))
    text = _text(value, f"The value of column '{name}'")
    reference = _CURRENT_RECIPIENT.match(text)
    if reference:
        return PartitionValueSpec(name.lower(), recipient_property=reference.group("key").strip())
    return PartitionValueSpec(name.lower(), value=text)


class Partitions(fields.Field):
    """The partitions of a table to share: a list of ``{column: value}`` mappings (a value may be
    ``{recipient_property: key}``), or ``col=value, col=value; ...`` in a cell."""

    json_shape = {"anyOf": [{"type": "array", "maxItems": MAX_PARTITIONS, "items": {
        "type": "object", "minProperties": 1,
        "additionalProperties": {"anyOf": [{"type": ["string", "number"]}, _RECIPIENT_PROPERTY]}}}, _CELL]}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> tuple:
        if isinstance(value, str):
            value = [dict(pairs) for pairs in split_items(value)]
        if not isinstance(value, list) or not all(isinstance(item, Mapping) and item for item in value):
            raise ValidationError("Must be a list of partitions, each a mapping of columns to values.")
        if len(value) > MAX_PARTITIONS:
            raise ValidationError(f"At most {MAX_PARTITIONS} partitions (has {len(value)}).")
        partitions: list[Partition] = []
        errors: dict[int, Any] = {}
        for index, item in enumerate(value):
            try:
                partition = tuple(_partition_value(column, item[column]) for column in item)
            except ValidationError as exc:
                errors[index] = exc.messages
                continue
            if partition in partitions:
                errors[index] = [f"Partition {index + 1} repeats partition {partitions.index(partition) + 1}."]
            partitions.append(partition)
        if errors:
            raise ValidationError(errors)
        return tuple(partitions)


def _audiences(value: Any) -> tuple[str, ...]:
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_AUDIENCES:
        raise ValidationError(f"'audiences' must list 1 to {MAX_AUDIENCES} audiences.")
    return tuple(_text(item, "An audience", limit=255) for item in items)


_POLICY_FIELDS = ("name", "issuer", "subject_claim", "subject", "audiences", "comment")


def _policy(item: Mapping[str, Any]) -> FederationPolicySpec:
    unknown = sorted(set(item) - set(_POLICY_FIELDS))
    missing = [key for key in _POLICY_FIELDS[:5] if not item.get(key)]
    errors: dict[str, list[str]] = {key: ["Unknown field."] for key in unknown}
    errors.update({key: [f"'{key}' is required."] for key in missing})
    if errors:
        raise ValidationError(errors)
    name = _text(item["name"], "'name'", limit=255)
    if not _POLICY_NAME.match(name):
        raise ValidationError({"name": ["Must be lowercase letters, digits and hyphens."]})
    issuer = _text(item["issuer"], "'issuer'", limit=2048)
    if not issuer.startswith("https://"):
        raise ValidationError({"issuer": [f"Must be the issuer's https:// URL (the 'iss' claim), got "
                                          f"'{echo(issuer)}'."]})
    claim = _text(item["subject_claim"], "'subject_claim'", limit=64)
    if claim not in _SUBJECT_CLAIMS:
        raise ValidationError({"subject_claim": [f"Must be one of {', '.join(_SUBJECT_CLAIMS)} (got "
                                                 f"'{echo(claim)}')."]})
    try:
        audiences = _audiences(item["audiences"])
    except ValidationError as exc:
        raise ValidationError({"audiences": exc.messages}) from None
    comment = item.get("comment")
    return FederationPolicySpec(name=name, issuer=issuer, subject_claim=claim,
                                subject=_text(item["subject"], "'subject'", limit=255), audiences=audiences,
                                comment=_text(comment, "'comment'") if comment is not None else None)


class FederationPolicies(fields.Field):
    """An ``oidc_federation`` recipient's policies: a list of mappings with name, issuer, subject_claim,
    subject, audiences (and comment), or ``name=..., issuer=..., ...; ...`` in a cell (audiences separated by
    spaces)."""

    json_shape = {"anyOf": [{"type": "array", "maxItems": MAX_FEDERATION_POLICIES, "items": {
        "type": "object", "required": ["name", "issuer", "subject_claim", "subject", "audiences"],
        "additionalProperties": False, "properties": {
            "name": {"type": "string", "pattern": _POLICY_NAME.pattern},
            "issuer": {"type": "string", "format": "uri"},
            "subject_claim": {"type": "string", "enum": list(_SUBJECT_CLAIMS)},
            "subject": {"type": "string"},
            "audiences": {"anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1},
                                    {"type": "string"}]},
            "comment": {"type": "string"}}}}, _CELL]}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> tuple:
        if isinstance(value, str):
            value = [dict(pairs) for pairs in split_items(value)]
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            raise ValidationError("Must be a list of policies, each a mapping with name, issuer, subject_claim, "
                                  "subject and audiences.")
        if len(value) > MAX_FEDERATION_POLICIES:
            raise ValidationError(f"At most {MAX_FEDERATION_POLICIES} policies (has {len(value)}).")
        policies, errors, names = [], {}, set()
        for index, item in enumerate(value):
            try:
                policy = _policy(item)
            except ValidationError as exc:
                errors[index] = exc.messages
                continue
            if policy.name in names:
                errors[index] = {"name": [f"Policy name '{policy.name}' is used twice."]}
            names.add(policy.name)
            policies.append(policy)
        if errors:
            raise ValidationError(errors)
        return tuple(policies)


def _partitions_cell(partitions: list[dict[str, Any]]) -> str | None:
    def condition(column: str, value: Any) -> str:
        if isinstance(value, Mapping):
            return f"{column}=CURRENT_RECIPIENT().{value['recipient_property']}"
        return f"{column}={_quote(str(value))}"

    return "; ".join(", ".join(condition(c, v) for c, v in p.items()) for p in partitions) or None


def _policies_cell(policies: list[dict[str, Any]]) -> str | None:
    def policy(p: Mapping[str, Any]) -> str:
        values = {**p, "audiences": " ".join(p["audiences"])}
        return ", ".join(f"{key}={_quote(str(values[key]))}" for key in _POLICY_FIELDS if values.get(key))

    return "; ".join(policy(p) for p in policies) or None


def _properties_cell(properties: dict[str, str]) -> str | None:
    return ", ".join(f"{key}={_quote(value)}" for key, value in properties.items()) or None


#: How each of these fields is written in one Excel cell (the canonical value in, the cell text out).
CELL_WRITERS: Mapping[str, Callable[[Any], str | None]] = {
    "properties": _properties_cell,
    "partitions": _partitions_cell,
    "federation_policies": _policies_cell,
}
