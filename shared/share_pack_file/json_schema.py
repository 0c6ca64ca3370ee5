"""Generate the JSON Schema of the share pack format from the marshmallow schemas, so editors can complete
and check YAML files without the format being written down twice.

The generated schema describes shape and formats; rules that span fields (a D2O recipient needs an email,
a share may only name declared recipients) are checked by `sharepack validate` only.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, fields, validate

from shared.share_pack_file.schema import SHARE_PACK_SCHEMA, DataObjectField, aliases
from shared.share_pack_file.values import Choice, DataObjectName, DelimitedList, IPv4Network, UnityCatalogName

SCHEMA_ID = "https://sharepack-workflow.example.com/sharepack.schema.json"


def share_pack_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a share pack file."""
    definitions: dict[str, Any] = {}
    root = _object(SHARE_PACK_SCHEMA, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Share pack",
        **root,
        "description": "A Delta Sharing request: who asks (metadata), who receives (recipient) and what is "
        "shared (share). Generated from shared/share_pack_file/schema.py by `sharepack schema`.",
        "$defs": dict(sorted(definitions.items())),
    }


def render_json_schema() -> str:
    """Return the JSON Schema as the text committed in `sharepack.schema.json`."""
    return json.dumps(share_pack_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _object(schema: Schema, definitions: dict[str, Any]) -> dict[str, Any]:
    properties = {name: _field(field, definitions) for name, field in schema.fields.items()}
    for alias, name in aliases(schema).items():
        properties[alias] = {
            **properties[name],
            "description": f"Old name for '{name}' (accepted with a warning).",
            "deprecated": True,
        }
    result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [name for name, field in schema.fields.items() if field.required]
    if required:
        result["required"] = required
    if type(schema).__doc__:
        result["description"] = " ".join(type(schema).__doc__.split())
    return result


def _reference(schema: Schema, definitions: dict[str, Any]) -> dict[str, str]:
    name = type(schema).__name__.removesuffix("Schema")
    if name not in definitions:
        definitions[name] = {}
        definitions[name] = _object(schema, definitions)
    return {"$ref": f"#/$defs/{name}"}


def _field(field: fields.Field, definitions: dict[str, Any]) -> dict[str, Any]:
    result = _shape(field, definitions)
    for validator in field.validators:
        result.update(_constraints(validator))
    description = field.metadata.get("description")
    if description:
        result = {"description": description, **result}
    return result


def _shape(field: fields.Field, definitions: dict[str, Any]) -> dict[str, Any]:
    if hasattr(field, "json_shape"):  # a field that declares its own shape (`sharing_fields`, `expiry`)
        return dict(field.json_shape)
    if isinstance(field, fields.Nested):
        return _reference(field.schema, definitions)
    if isinstance(field, fields.List):
        array = {"type": "array", "items": _field(field.inner, definitions)}
        for validator in field.validators:
            if isinstance(validator, validate.Length) and validator.max is not None:
                array["maxItems"] = validator.max
        if isinstance(field, DelimitedList):
            array["maxItems"] = field.max_items
            return {"anyOf": [array, {"type": "string", "description": "Items separated by commas or new lines."}]}
        return array
    if isinstance(field, DataObjectField):
        return {"anyOf": [
            {"type": "string", "pattern": DataObjectName.pattern, "description": "catalog.schema.table"},
            _reference(field.schema, definitions),
        ]}
    if isinstance(field, Choice):
        spellings = [variant for value in field.choices for variant in (value, value.lower(), value.capitalize())]
        return {"type": "string", "enum": list(dict.fromkeys(spellings))}
    if isinstance(field, IPv4Network):
        return {"type": "string", "pattern": IPv4Network.pattern}
    if isinstance(field, fields.Email):
        return {"type": "string", "format": "email"}
    if isinstance(field, fields.Url):
        return {"type": "string", "format": "uri"}
    if isinstance(field, fields.Integer):
        return {"type": "integer"}
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    return {"type": "string"}


def _constraints(validator: Any) -> dict[str, Any]:
    if isinstance(validator, validate.Range):
        return {
            key: value for key, value in (("minimum", validator.min), ("maximum", validator.max)) if value is not None
        }
    if isinstance(validator, validate.Length):
        return {
            key: value
            for key, value in (("minLength", validator.min), ("maxLength", validator.max))
            if value is not None
        }
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, UnityCatalogName | DataObjectName):
        return {"pattern": validator.pattern}
    return {}
