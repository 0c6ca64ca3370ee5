"""Writers: what they write reads back to the same pack, and the committed examples are the template."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from shared.share_pack_file import DataObjectSpec, DataObjectType, SharePackSpec, parse_share_pack, to_excel, to_yaml
from shared.share_pack_file.cli import TEMPLATE_HEADER
from shared.share_pack_file.sample import sample_share_pack
from tests.unit.share_pack_file.conftest import parse_as, valid_document

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_yaml_to_model_to_excel_to_model_round_trips():
    from_yaml = parse_as(valid_document(), "yaml").share_pack

    from_excel = parse_share_pack(to_excel(from_yaml), filename="pack.xlsx")

    assert from_excel.is_valid, from_excel.errors
    assert from_excel.share_pack == from_yaml


def test_model_to_yaml_to_model_round_trips_every_field():
    pack = sample_share_pack()
    share = dataclasses.replace(pack.shares[1], data_objects=(
        *pack.shares[1].data_objects,
        DataObjectSpec("finance.reference", DataObjectType.SCHEMA, "reference", None),
        DataObjectSpec("finance.ledger.balances", DataObjectType.VIEW, "ledger.balances_v", False),
    ))
    pack = dataclasses.replace(pack, shares=(pack.shares[0], share))

    assert parse_share_pack(to_yaml(pack).encode(), filename="pack.yaml").share_pack == pack
    assert parse_share_pack(to_excel(pack), filename="pack.xlsx").share_pack == pack


def test_text_that_looks_like_a_formula_is_written_as_text():
    pack = sample_share_pack()
    pack = dataclasses.replace(pack, metadata=dataclasses.replace(pack.metadata, description="=1+1 is two"))

    result = parse_share_pack(to_excel(pack), filename="pack.xlsx")

    assert result.share_pack.metadata.description == "=1+1 is two"
    assert result.warnings == []


def test_short_forms_are_used_for_plain_tables():
    text = to_yaml(sample_share_pack())

    assert "  - sales.reporting.orders\n" in text
    assert "type: TABLE" not in text


def test_the_committed_examples_are_the_template():
    yaml_example = (EXAMPLES / "sample_sharepack.yaml").read_text()
    excel_example = parse_share_pack((EXAMPLES / "sample_sharepack.xlsx").read_bytes(), filename="sample.xlsx")

    assert yaml_example == TEMPLATE_HEADER + to_yaml(sample_share_pack())
    assert excel_example.share_pack == sample_share_pack()


def test_canonical_dict_round_trips_and_uses_the_file_vocabulary():
    pack = sample_share_pack()

    stored = pack.to_dict()

    assert list(stored) == ["metadata", "recipient", "share", "pipelines"]
    assert stored["share"][0]["data_objects"][0] == {
        "name": "sales.reporting.orders", "type": "TABLE", "shared_as": None, "history": None,
    }
    assert SharePackSpec.from_dict(stored) == pack
