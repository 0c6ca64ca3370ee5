"""The vocabulary: one schema feeds the validator, the fast data object loader and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from marshmallow import ValidationError

from shared.share_pack_file.json_schema import render_json_schema, share_pack_json_schema
from shared.share_pack_file.schema import DataObjectSchema, aliases_of, load_flat

COMMITTED = Path(__file__).resolve().parents[3] / "shared" / "share_pack_file" / "sharepack.schema.json"


@pytest.mark.parametrize(
    "value",
    [
        {"name": "a.b.c"},
        {"name": "a.b.c", "type": "view", "shared_as": "b.c", "history": "yes"},
        {"name": "a b.c"},
        {"type": "TABLE"},
        {"name": "a.b.c", "histroy": True, "type": "cube"},
        {"name": 5, "history": "maybe"},
    ],
)
def test_fast_flat_load_agrees_with_marshmallow(value):
    schema = DataObjectSchema()
    try:
        expected = ("ok", schema.load(value))
    except ValidationError as exc:
        expected = ("error", exc.messages)
    try:
        actual = ("ok", load_flat(schema, value))
    except ValidationError as exc:
        actual = ("error", exc.messages)

    assert actual == expected


def test_aliases_are_declared_once_on_the_fields():
    assert aliases_of("allowed_ips") == ("recipient_ips",)
    assert aliases_of("metastore_id") == ("recipient_databricks_org",)
    assert aliases_of("data_objects") == ("share_assets",)
    assert aliases_of("name") == ()


def test_committed_json_schema_is_what_the_generator_produces():
    assert COMMITTED.read_text() == render_json_schema()


def test_json_schema_follows_the_marshmallow_schemas():
    schema = share_pack_json_schema()
    recipient = schema["$defs"]["Recipient"]

    assert schema["required"] == ["metadata", "recipient", "share"]
    assert recipient["additionalProperties"] is False
    assert recipient["properties"]["token_expiry_days"] == {
        "description": "D2O only: bearer token lifetime in days (1..365).", "type": "integer", "minimum": 1,
        "maximum": 365,
    }
    assert recipient["properties"]["recipient_ips"]["deprecated"] is True
    assert json.loads(render_json_schema()) == schema
