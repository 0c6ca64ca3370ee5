"""Share pack test helpers: one document written as YAML or as a workbook, so every rule runs on both."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import Workbook
from ruamel.yaml import YAML

from shared.share_pack_file import ParsedSharePack, parse_share_pack

FORMATS = ("yaml", "xlsx")


def valid_document() -> dict[str, Any]:
    """A small valid pack as the plain document a YAML file holds."""
    return {
        "metadata": {
            "requestor": "jane.doe@example.com",
            "project_name": "Partner analytics",
            "business_line": "Finance",
            "strategy": "NEW",
        },
        "recipient": [
            {"name": "Acme", "type": "D2O", "email": "ops@acme.example.com", "allowed_ips": ["203.0.113.0/24"]},
            {"name": "globex", "type": "D2D", "metastore_id": "aws:us-east-1:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"},
        ],
        "share": [
            {
                "name": "Sales",
                "recipients": ["acme", "globex"],
                "data_objects": ["sales.reporting.orders", {"name": "sales.reporting.customers", "history": True}],
            },
            {"name": "finance", "recipients": ["globex"], "data_objects": ["finance.ledger.entries"]},
        ],
    }


def yaml_bytes(document: Any) -> bytes:
    """Dump a document as block-style YAML (libyaml's emitter: the same text as the pure-Python one, twenty
    times faster on the hostile files' megabytes)."""
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue().encode()


def workbook_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    """Build an .xlsx from `{sheet title: rows}` (first row is the header)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def document_sheets(document: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """Lay a document out as the workbook a requestor would fill (data objects on their own sheet)."""
    def cell(value: Any) -> Any:
        if isinstance(value, dict):
            return ", ".join(f"{key}={item}" for key, item in value.items())
        return ", ".join(str(item) for item in value) if isinstance(value, list) else value

    def table(items: list[dict[str, Any]]) -> list[list[Any]]:
        columns = list(dict.fromkeys(key for item in items for key in item)) or ["name"]
        return [columns, *([cell(item.get(column)) for column in columns] for item in items)]

    sheets: dict[str, list[list[Any]]] = {}
    if "metadata" in document:
        sheets["metadata"] = [["field", "value"], *([key, value] for key, value in document["metadata"].items())]
    if "recipient" in document:
        sheets["recipient"] = table(document["recipient"])
    if "share" in document:
        shares = [{key: value for key, value in share.items() if key != "data_objects"} for share in document["share"]]
        sheets["share"] = table(shares)
        objects = [
            {"share": share["name"], **({"name": item} if isinstance(item, str) else item)}
            for share in document["share"]
            for item in share.get("data_objects", [])
        ]
        sheets["data_objects"] = table(objects) if objects else [["share", "name"]]
    if "pipelines" in document:
        sheets["Pipelines"] = table(document["pipelines"])
    return sheets


def parse_as(document: dict[str, Any], file_format: str) -> ParsedSharePack:
    """Write `document` in `file_format` and parse it back."""
    if file_format == "yaml":
        return parse_share_pack(yaml_bytes(document), filename="pack.yaml")
    return parse_share_pack(workbook_bytes(document_sheets(document)), filename="pack.xlsx")


def messages(issues: list[Any]) -> dict[str, str]:
    """`{path: message}` of a list of issues (last one wins for a repeated path)."""
    return {issue.path: issue.message for issue in issues}


@pytest.fixture(params=FORMATS)
def file_format(request: pytest.FixtureRequest) -> str:
    """Each rule test runs once per file format."""
    return request.param


@pytest.fixture
def parse_with(file_format: str) -> Callable[[Callable[[dict[str, Any]], None]], ParsedSharePack]:
    """Parse the valid document after `change` edits it, in the current format."""

    def parse(change: Callable[[dict[str, Any]], None]) -> ParsedSharePack:
        document = copy.deepcopy(valid_document())
        change(document)
        return parse_as(document, file_format)

    return parse
