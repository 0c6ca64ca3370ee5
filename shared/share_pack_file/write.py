"""Write a canonical share pack back to the files requestors edit: YAML, or an Excel workbook.

Both writers follow the vocabulary of `schema.py` (section, sheet and column names, field order), so what
they write reads back to the same `SharePackSpec`, every section included (`pipelines` is a section in YAML
and a `pipelines` sheet in Excel). Unset fields are left out (YAML) or left blank (Excel); a data object
with only a name is written in its short form.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from ruamel.yaml import YAML

from shared.share_pack_file.model import DataObjectType, RecipientType, ScdType, SharePackSpec, Strategy
from shared.share_pack_file.schema import (
    DATA_OBJECTS_SHEET,
    METADATA_COLUMNS,
    PIPELINES_SHEET,
    SHARE_COLUMN,
    DataObjectSchema,
    MetadataSchema,
    PipelineSchema,
    RecipientSchema,
    ShareSchema,
    field_names,
)
from shared.share_pack_file.sharing_fields import CELL_WRITERS


def to_yaml(spec: SharePackSpec) -> str:
    """Return the pack as YAML text in the canonical vocabulary."""
    canonical = spec.to_dict()
    document = {
        "metadata": _compact(canonical["metadata"]),
        "recipient": [_compact(recipient) for recipient in canonical["recipient"]],
        "share": [
            {
                **_compact({key: value for key, value in share.items() if key != "data_objects"}),
                "data_objects": [_short_data_object(item) for item in share["data_objects"]],
            }
            for share in canonical["share"]
        ],
    }
    if canonical["pipelines"]:
        document["pipelines"] = [_compact(pipeline) for pipeline in canonical["pipelines"]]
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def to_excel(spec: SharePackSpec) -> bytes:
    """Return the pack as an .xlsx workbook: sheets metadata, recipient, share, data_objects and pipelines."""
    canonical = spec.to_dict()
    workbook = Workbook()
    metadata_sheet = workbook.active
    metadata_sheet.title = "metadata"
    metadata_fields = field_names(MetadataSchema())
    _write_rows(metadata_sheet, METADATA_COLUMNS, [(name, canonical["metadata"][name]) for name in metadata_fields])
    _choices(metadata_sheet, [member.value for member in Strategy], f"B{metadata_fields.index('strategy') + 2}")

    recipient_columns = field_names(RecipientSchema())
    recipient_sheet = workbook.create_sheet("recipient")
    _write_rows(recipient_sheet, recipient_columns, [
        tuple(_cell(recipient[name], name) for name in recipient_columns) for recipient in canonical["recipient"]
    ])
    _choices(recipient_sheet, [member.value for member in RecipientType], _column_range(recipient_columns, "type"))

    share_columns = tuple(name for name in field_names(ShareSchema()) if name != "data_objects")
    _write_rows(workbook.create_sheet("share"), share_columns, [
        tuple(_cell(share[name]) for name in share_columns) for share in canonical["share"]
    ])

    object_columns = (SHARE_COLUMN, *field_names(DataObjectSchema()))
    object_sheet = workbook.create_sheet(DATA_OBJECTS_SHEET)
    _write_rows(object_sheet, object_columns, [
        (share["name"], *(_cell(item[name], name) for name in object_columns[1:]))
        for share in canonical["share"]
        for item in share["data_objects"]
    ])
    _choices(object_sheet, [member.value for member in DataObjectType], _column_range(object_columns, "type"))

    pipeline_columns = field_names(PipelineSchema())
    pipeline_sheet = workbook.create_sheet(PIPELINES_SHEET)
    _write_rows(pipeline_sheet, pipeline_columns, [
        tuple(_cell(pipeline[name]) for name in pipeline_columns) for pipeline in canonical["pipelines"]
    ])
    _choices(pipeline_sheet, [member.value for member in ScdType], _column_range(pipeline_columns, "scd_type"))

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _compact(mapping: dict[str, Any]) -> dict[str, Any]:
    compact = {key: value for key, value in mapping.items() if value is not None and value != [] and value != {}}
    if "federation_policies" in compact:  # a policy's unset comment is left out too
        compact["federation_policies"] = [_compact(policy) for policy in compact["federation_policies"]]
    return compact


def _short_data_object(item: dict[str, Any]) -> str | dict[str, Any]:
    written = _compact({**item, "type": None if item["type"] == DataObjectType.TABLE else item["type"]})
    return written["name"] if len(written) == 1 else written


def _cell(value: Any, name: str = "") -> Any:
    """One Excel cell: a list as comma-separated text, tags as ``key=value, key=value`` (the sharing fields
    as `sharing_fields.CELL_WRITERS` writes them)."""
    if name in CELL_WRITERS:
        return CELL_WRITERS[name](value) if value else None
    if isinstance(value, list):
        return ", ".join(value) or None
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items()) or None
    return value


def _write_rows(sheet: Worksheet, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            # openpyxl stores text starting with '=' as a formula; a share pack value is always literal text.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    for index, column in enumerate(sheet.columns):
        width = max((len(str(cell.value)) for cell in column if cell.value is not None), default=8)
        sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 10), 60)
        if index > 30:
            break


def _column_range(columns: tuple[str, ...], name: str) -> str:
    letter = chr(ord("A") + columns.index(name))
    return f"{letter}2:{letter}5000"


def _choices(sheet: Worksheet, values: list[str], cells: str) -> None:
    """Offer a drop-down of allowed values (Excel still accepts typed text, which the reader validates)."""
    validation = DataValidation(type="list", formula1=f'"{",".join(values)}"', allow_blank=True)
    validation.showErrorMessage = False
    sheet.add_data_validation(validation)
    validation.add(cells)
