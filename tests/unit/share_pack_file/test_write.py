"""Writers: what they write reads back to the same pack, and the committed examples are the template."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from shared.share_pack_file import DataObjectSpec, DataObjectType, SharePackSpec, parse_share_pack, to_excel, to_yaml
from shared.share_pack_file.cli import TEMPLATE_HEADER
from shared.share_pack_file.cli import main as cli_main
from shared.share_pack_file.model import PipelineSpec, ScdType
from shared.share_pack_file.sample import sample_share_pack
from tests.unit.share_pack_file.conftest import parse_as, valid_document

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_yaml_to_model_to_excel_to_model_round_trips():
    from_yaml = parse_as(valid_document(), "yaml").spec

    from_excel = parse_share_pack(to_excel(from_yaml), filename="pack.xlsx")

    assert from_excel.is_valid, from_excel.errors
    assert from_excel.spec == from_yaml


def test_model_to_yaml_to_model_round_trips_every_field():
    pack = sample_share_pack()
    share = dataclasses.replace(pack.shares[1], data_objects=(
        *pack.shares[1].data_objects,
        DataObjectSpec("finance.reference", DataObjectType.SCHEMA, "reference", None),
        DataObjectSpec("finance.ledger.balances", DataObjectType.VIEW, "ledger.balances_v", False),
    ))
    pack = dataclasses.replace(pack, shares=(pack.shares[0], share))

    assert parse_share_pack(to_yaml(pack).encode(), filename="pack.yaml").spec == pack
    assert parse_share_pack(to_excel(pack), filename="pack.xlsx").spec == pack


def test_text_that_looks_like_a_formula_is_written_as_text():
    pack = sample_share_pack()
    pack = dataclasses.replace(pack, metadata=dataclasses.replace(pack.metadata, description="=1+1 is two"))

    result = parse_share_pack(to_excel(pack), filename="pack.xlsx")

    assert result.spec.metadata.description == "=1+1 is two"
    assert result.warnings == []


def test_short_forms_are_used_for_plain_tables():
    text = to_yaml(sample_share_pack())

    assert "  - sales.reporting.orders\n" in text
    assert "type: TABLE" not in text


def test_the_committed_examples_are_the_template():
    yaml_example = (EXAMPLES / "sample_sharepack.yaml").read_text()
    excel_example = parse_share_pack((EXAMPLES / "sample_sharepack.xlsx").read_bytes(), filename="sample.xlsx")

    assert yaml_example == TEMPLATE_HEADER + to_yaml(sample_share_pack())
    assert excel_example.spec == sample_share_pack()


def test_canonical_dict_round_trips_and_uses_the_file_vocabulary():
    pack = sample_share_pack()

    stored = pack.to_dict()

    assert list(stored) == ["metadata", "recipient", "share", "pipelines"]
    assert stored["share"][0]["data_objects"][0] == {
        "name": "sales.reporting.orders", "type": "TABLE", "shared_as": None, "history": None,
        "partitions": [], "cdf_enabled": None, "start_version": None,
    }
    assert SharePackSpec.from_dict(stored) == pack


# Values the format accepts for each pipeline field; a tag value holds no comma (the Excel cell separator).
_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
_PIPELINES = st.lists(
    st.builds(
        dict,
        name=_NAMES,
        source=st.from_regex(r"raw\.[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True),
        scd=st.sampled_from(list(ScdType)),
        keys=st.lists(_NAMES, min_size=1, max_size=3, unique=True),
        schedule=st.sampled_from([None, "continuous", "0 0 6 * * ?", "0 30 2 ? * MON-FRI", "0 0/15 * * * ?"]),
        timezone=st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York"]),
        emails=st.lists(st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True), max_size=2, unique=True),
        serverless=st.booleans(),
        tags=st.dictionaries(_NAMES, st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), max_size=3),
    ),
    max_size=3,
    unique_by=lambda item: item["name"],
)


@settings(max_examples=25, deadline=None)
@given(pipelines=_PIPELINES, suffix=st.sampled_from(["yaml", "xlsx"]))
def test_convert_there_and_back_keeps_every_section(pipelines: list[dict], suffix: str):
    pack = sample_share_pack()
    targets = [item.name for share in pack.shares for item in share.data_objects]
    spec = tuple(
        PipelineSpec(
            name=item["name"], source_table=item["source"], target_table=targets[index % len(targets)],
            scd_type=item["scd"], key_columns=tuple(item["keys"]),
            schedule=None if item["schedule"] in (None, "continuous") else item["schedule"],
            continuous=item["schedule"] == "continuous", timezone=item["timezone"],
            notification_list=tuple(item["emails"]), serverless=item["serverless"], tags=item["tags"],
        )
        for index, item in enumerate(pipelines)
    )
    pack = dataclasses.replace(pack, pipelines=spec)

    content = to_excel(pack) if suffix == "xlsx" else to_yaml(pack).encode()
    result = parse_share_pack(content, filename=f"pack.{suffix}")

    assert result.is_valid, result.errors
    assert result.spec == pack


def test_the_excel_template_has_a_pipelines_sheet(tmp_path: Path):
    workbook = load_workbook(io.BytesIO(to_excel(sample_share_pack())))

    assert workbook.sheetnames == ["metadata", "recipient", "share", "data_objects", "pipelines"]
    assert [cell.value for cell in workbook["pipelines"][1]][:3] == ["name", "source_table", "target_table"]


def test_cli_convert_keeps_pipelines(tmp_path: Path):
    pack = dataclasses.replace(sample_share_pack(), pipelines=(PipelineSpec(
        name="orders_feed", source_table="raw.sales.orders", target_table="sales.reporting.orders",
        schedule="0 0 6 * * ?", tags={"team": "sales"}),))
    source = tmp_path / "pack.yaml"
    source.write_text(to_yaml(pack))

    for target in (tmp_path / "pack.xlsx", tmp_path / "again.yaml"):
        assert cli_main(["convert", str(source), str(target)]) == 0
        assert parse_share_pack(target.read_bytes(), filename=target.name).spec == pack
