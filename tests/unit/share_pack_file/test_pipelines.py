"""The pipelines section: every field checked with a located error, in YAML and in a workbook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.share_pack_file import ParsedSharePack
from shared.share_pack_file.cron import CronError, to_quartz
from shared.share_pack_file.model import PipelineSpec, ScdType, SharePackSpec
from tests.unit.share_pack_file.conftest import messages, parse_as, valid_document


def nightly() -> dict[str, Any]:
    return {
        "name": "Orders_SCD2",
        "source_table": "raw.sales.orders",
        "target_table": "sales.reporting.orders",
        "scd_type": 2,
        "key_columns": ["order_id"],
        "schedule": "0 30 2 * * ?",
        "timezone": "Europe/Paris",
        "notification_list": ["ops@example.com"],
        "serverless": True,
        "tags": {"cost_center": "42"},
    }


def continuous() -> dict[str, Any]:
    return {"name": "ledger", "source_table": "raw.fin.entries", "target_table": "finance.ledger.entries",
            "scd_type": "full_refresh", "schedule": "continuous"}


def with_pipelines(*pipelines: dict[str, Any]) -> dict[str, Any]:
    return {**valid_document(), "pipelines": list(pipelines)}


def test_two_pipelines_read_the_same_in_both_formats() -> None:
    from_yaml = parse_as(with_pipelines(nightly(), continuous()), "yaml")
    from_excel = parse_as(with_pipelines(nightly(), continuous()), "xlsx")

    assert from_yaml.errors == [] and from_excel.errors == []
    assert from_yaml.spec == from_excel.spec
    assert from_yaml.spec is not None
    scd2, ledger = from_yaml.spec.pipelines
    assert scd2 == PipelineSpec(
        name="orders_scd2", source_table="raw.sales.orders", target_table="sales.reporting.orders",
        scd_type=ScdType.SCD2, key_columns=("order_id",), schedule="0 30 2 * * ?", timezone="Europe/Paris",
        notification_list=("ops@example.com",), serverless=True, tags={"cost_center": "42"},
    )
    assert ledger.continuous and ledger.schedule is None and ledger.scd_type is ScdType.FULL_REFRESH


def test_a_pack_without_pipelines_is_still_valid() -> None:
    result = parse_as(valid_document(), "yaml")
    assert result.is_valid and result.spec is not None and result.spec.pipelines == ()


def test_stored_form_round_trips() -> None:
    pack = parse_as(with_pipelines(nightly(), continuous()), "yaml").spec
    assert pack is not None
    assert SharePackSpec.from_dict(pack.to_dict()) == pack


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda p: p.update(schedule="30 2 * * *"), "pipelines[0].schedule", None),  # Unix: accepted
        (lambda p: p.update(schedule="every night"), "pipelines[0].schedule", "fields"),
        (lambda p: p.update(schedule="0 30 2 * * 1"), "pipelines[0].schedule", "exactly one"),
        (lambda p: p.update(schedule="0 30 25 * * ?"), "pipelines[0].schedule", "between 0 and 23"),
        (lambda p: p.update(timezone="Mars/Olympus"), "pipelines[0].timezone", "not a time zone"),
        (lambda p: p.update(target_table="sales.reporting.nowhere"), "pipelines[0].target_table",
         "no share of this pack holds"),
        (lambda p: p.update(target_table="sales.reporting"), "pipelines[0].target_table", "catalog.schema.table"),
        (lambda p: p.pop("source_table"), "pipelines[0].source_table", "needs a 'source_table'"),
        (lambda p: p.pop("key_columns"), "pipelines[0].key_columns", "SCD type 2"),
        (lambda p: p.update(scd_type=3), "pipelines[0].scd_type", "1, 2 or full_refresh"),
        (lambda p: p.update(notification_list=["ops@"]), "pipelines[0].notification_list[0]", "email"),
        (lambda p: p.update(name="orders scd"), "pipelines[0].name", "a space"),
    ],
)
def test_every_field_is_checked_where_it_is(
    file_format: str, change: Callable[[dict[str, Any]], None], path: str, fragment: str | None
) -> None:
    pipeline = nightly()
    change(pipeline)
    result: ParsedSharePack = parse_as(with_pipelines(pipeline), file_format)
    errors = messages(result.errors)
    if fragment is None:
        assert result.is_valid, errors
        return
    assert path in errors, errors
    assert fragment in errors[path]


def test_an_unknown_pipeline_field_is_named() -> None:
    result = parse_as(with_pipelines({**nightly(), "colour": "blue"}), "yaml")
    assert "not a pipeline field" in messages(result.errors)["pipelines[0].colour"]


def test_pipeline_names_are_unique() -> None:
    result = parse_as(with_pipelines(nightly(), {**nightly(), "name": "orders_scd2"}), "yaml")
    assert "already used" in messages(result.errors)["pipelines[1].name"]


@pytest.mark.parametrize(
    ("unix", "quartz"),
    [("30 2 * * *", "0 30 2 * * ?"), ("0 */6 * * *", "0 0 */6 * * ?"), ("15 8 * * 1-5", "0 15 8 ? * 2-6"),
     ("0 0 1 * *", "0 0 0 1 * ?"), ("0 9 * * 0", "0 0 9 ? * 1"), ("0 9 * * MON", "0 0 9 ? * MON")],
)
def test_unix_cron_becomes_quartz(unix: str, quartz: str) -> None:
    assert to_quartz(unix) == quartz


def test_unix_cron_restricting_both_days_is_refused() -> None:
    with pytest.raises(CronError, match="both"):
        to_quartz("0 9 1 * 1")
