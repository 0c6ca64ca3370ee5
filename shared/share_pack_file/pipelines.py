"""The rules of a share pack's ``pipelines`` section that need more than one value.

A pipeline feeds a table that the pack shares, so its target must be a data object of one of the pack's
shares; SCD type 2 keeps one row per key and version, so it needs the key columns (the ``KEYS`` clause of
``AUTO CDC``, https://docs.databricks.com/aws/en/dlt/cdc). Field formats (cron, time zone, names) are
checked by `schema.PipelineSchema`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.share_pack_file.cron import CONTINUOUS
from shared.share_pack_file.issues import Findings, Path
from shared.share_pack_file.model import DataObjectSpec, DataObjectType, PipelineSpec, ScdType

SECTION = "pipelines"


def check_pipeline(
    loaded: dict[str, Any], given: Mapping[str, Any], messages: Mapping[str, Any], path: Path, *,
    deleting: bool, shared_tables: Mapping[str, str], findings: Findings,
) -> None:
    """Add the errors of one loaded pipeline (``shared_tables``: table → the share that holds it)."""
    if not isinstance(given, Mapping) or "_schema" in messages:
        return
    name = loaded.get("name", "")
    if deleting:
        return  # deleting needs only the name
    for required in ("source_table", "target_table"):
        if required not in given:
            findings.error((*path, required), f"Pipeline '{name}' needs a '{required}' (catalog.schema.table).")
    for key in ("source_table", "target_table"):
        value = loaded.get(key)
        if value is not None and value.count(".") != 2:
            findings.error((*path, key), f"'{value}' is not a table name: write catalog.schema.table.")
    target = (loaded.get("target_table") or "").lower()
    if target and target.count(".") == 2 and target not in shared_tables:
        findings.error((*path, "target_table"), f"Pipeline '{name}' writes '{target}', which no share of this "
                       "pack holds; add it to a share's data_objects or fix the name.")
    if target and target == (loaded.get("source_table") or "").lower():
        findings.error((*path, "target_table"), f"Pipeline '{name}' would read and write the same table.")
    if loaded.get("scd_type") is ScdType.SCD2 and not loaded.get("key_columns") and "key_columns" not in messages:
        findings.error((*path, "key_columns"), f"Pipeline '{name}' is SCD type 2: list its 'key_columns' (the "
                       "columns that identify a row).")
    if "timezone" in loaded and loaded.get("schedule") in (None, CONTINUOUS) and "schedule" not in messages:
        findings.warn((*path, "timezone"), "'timezone' applies only to a cron 'schedule'; it is ignored.")


def shared_tables(shares: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return every table or view a pack's shares hold, mapped to the share that holds it."""
    tables: dict[str, str] = {}
    for share in shares:
        for data_object in share.get("data_objects", []) if share else []:
            if isinstance(data_object, DataObjectSpec) and data_object.type in (DataObjectType.TABLE,
                                                                                 DataObjectType.VIEW):
                tables.setdefault(data_object.name, str(share.get("name", "")).lower())
    return tables


def build_pipeline(item: Mapping[str, Any]) -> PipelineSpec:
    """Return the canonical pipeline of a valid loaded item."""
    schedule = item.get("schedule")
    return PipelineSpec(
        name=item["name"].lower(),
        source_table=(item.get("source_table") or "").lower() or None,
        target_table=(item.get("target_table") or "").lower() or None,
        scd_type=item.get("scd_type", ScdType.SCD1),
        key_columns=tuple(item.get("key_columns", ())),
        schedule=None if schedule == CONTINUOUS else schedule,
        continuous=schedule == CONTINUOUS,
        timezone=item.get("timezone", "UTC"),
        notification_list=tuple(item.get("notification_list", ())),
        serverless=item.get("serverless", True),
        tags=dict(item.get("tags", {})),
    )
