"""Excel specifics: layout, legacy workbooks, locations, and hostile or broken workbooks refused as issues."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest
from openpyxl import Workbook

from shared.platform.errors import UnsupportedMediaType
from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.excel_archive import MAX_UNCOMPRESSED_BYTES
from tests.unit.share_pack_file.conftest import document_sheets, messages, valid_document, workbook_bytes

METADATA = [
    ["Field", "Value"],
    ["requestor", "jane.doe@example.com"],
    ["project_name", "Partner analytics"],
    ["business_line", "Finance"],
    ["strategy", "NEW"],
    ["description", "Legacy workbook"],
]


def parse(content: bytes, filename: str = "pack.xlsx"):
    return parse_share_pack(content, filename=filename)


def legacy_sheets() -> dict[str, list[list]]:
    """A workbook as the original system's create_sample_excel.py made it."""
    return {
        "Metadata": METADATA,
        "Recipients": [
            ["name", "type", "email", "allowed_ips", "metastore_id", "comment"],
            ["acme", "D2O", "ops@acme.example.com", "203.0.113.0/24\n198.51.100.7", None, "Acme"],
            ["globex", "D2D", None, None, "azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", None],
        ],
        "Shares": [
            ["name", "comment", "recipients", "data_objects"],
            ["sales", "Sales", "acme, globex", "sales.reporting.orders, sales.reporting.customers"],
            ["finance", None, "globex", "finance.ledger.entries"],
        ],
        "Pipelines": [["name", "schedule"]],
    }


def test_a_legacy_workbook_loads():
    result = parse(workbook_bytes(legacy_sheets()))

    assert result.is_valid, result.errors
    assert result.warnings == []
    pack = result.spec
    assert pack.recipients[0].allowed_ips == ("203.0.113.0/24", "198.51.100.7")
    assert pack.shares[0].recipients == ("acme", "globex")
    assert [o.name for o in pack.shares[0].data_objects] == ["sales.reporting.orders", "sales.reporting.customers"]


def test_pipeline_rows_are_read_and_located():
    sheets = legacy_sheets()
    sheets["Pipelines"] = [
        ["name", "source_table", "target_table", "schedule"],
        ["nightly_sales", "raw.sales.orders", "sales.reporting.orders", "0 2 * * *"],
        ["broken", "raw.sales.orders", "sales.reporting.nowhere", "continuous"],
    ]

    result = parse(workbook_bytes(sheets))

    assert [issue.location for issue in result.errors] == [{"sheet": "Pipelines", "row": 3, "column": "target_table"}]
    sheets["Pipelines"].pop()
    pack = parse(workbook_bytes(sheets)).spec
    assert pack is not None and pack.pipelines[0].schedule == "0 0 2 * * ?"


def test_sheet_and_column_names_ignore_case_spaces_and_plurals():
    sheets = document_sheets(valid_document())
    renamed = {"METADATA": sheets["metadata"], "Recipients": sheets["recipient"], "Shares": sheets["share"],
               "Data Objects": sheets["data_objects"]}
    renamed["Recipients"][0] = [column.upper() for column in renamed["Recipients"][0]]
    renamed["Shares"][0] = [f" {column.title()} " for column in renamed["Shares"][0]]

    result = parse(workbook_bytes(renamed))

    assert result.is_valid, result.errors
    assert result.spec == parse(workbook_bytes(sheets)).spec


def test_issues_carry_sheet_row_and_column():
    sheets = document_sheets(valid_document())
    sheets["recipient"][0] = [column.title() for column in sheets["recipient"][0]]
    sheets["recipient"][1][sheets["recipient"][0].index("Email")] = "ops@"
    sheets["data_objects"][2][1] = "sales.orders"
    sheets["metadata"][4][1] = "SOMETIMES"

    result = parse(workbook_bytes(sheets))

    located = {issue.path: issue.location for issue in result.errors}
    assert located["recipient[0].email"] == {"sheet": "recipient", "row": 2, "column": "Email"}
    assert located["share[0].data_objects[1].name"] == {"sheet": "data_objects", "row": 3, "column": "name"}
    assert located["metadata.strategy"] == {"sheet": "metadata", "row": 5, "column": "value"}


def test_rows_are_counted_from_the_header_wherever_it_is():
    sheets = document_sheets(valid_document())
    sheets["recipient"] = [[None], ["Recipients of the pack"][:0], *sheets["recipient"]]
    sheets["recipient"][3][0] = "bad name"

    result = parse(workbook_bytes(sheets))

    assert result.errors[0].location == {"sheet": "recipient", "row": 4, "column": "name"}


def test_a_legacy_data_objects_cell_is_located_on_the_share_sheet():
    sheets = legacy_sheets()
    sheets["Shares"][2][3] = "finance.entries"

    result = parse(workbook_bytes(sheets))

    assert result.errors[0].path == "share[1].data_objects[0]"
    assert result.errors[0].location == {"sheet": "Shares", "row": 3, "column": "data_objects"}


@pytest.mark.parametrize("missing", ["metadata", "recipient", "share"])
def test_a_missing_sheet_is_an_error(missing):
    sheets = document_sheets(valid_document())
    del sheets[missing]

    result = parse(workbook_bytes(sheets))

    assert f"no '{missing}' section (in Excel: no '{missing}' sheet)" in messages(result.errors)[missing]


@pytest.mark.parametrize(("sheet", "column"), [("recipient", "name"), ("share", "name"), ("metadata", "value"),
                                               ("data_objects", "share")])
def test_a_missing_required_column_is_one_error(sheet, column):
    sheets = document_sheets(valid_document())
    index = sheets[sheet][0].index(column)
    sheets[sheet] = [row[:index] + row[index + 1:] for row in sheets[sheet]]

    result = parse(workbook_bytes(sheets))

    found = [issue for issue in result.errors if f"no '{column}' column" in issue.message]
    assert len(found) == 1
    assert found[0].location == {"sheet": sheet, "row": 1}


def test_an_unknown_sheet_is_a_warning_and_an_alias_column_is_renamed_once():
    sheets = document_sheets(valid_document())
    sheets["recipient"][0][sheets["recipient"][0].index("allowed_ips")] = "Recipient IPs"
    sheets["Instructions"] = [["Fill in the sheets"]]

    result = parse(workbook_bytes(sheets))

    assert result.is_valid, result.errors
    assert result.spec.recipients[0].allowed_ips == ("203.0.113.0/24",)
    assert [issue.message for issue in result.warnings] == [
        "The sheet 'Instructions' is not part of a share pack and was ignored.",
        "The column 'Recipient IPs' is an old name for 'allowed_ips'; it was read as 'allowed_ips'.",
    ]


def test_a_data_object_row_must_name_a_known_share():
    sheets = document_sheets(valid_document())
    sheets["data_objects"].append(["marketing", "sales.reporting.returns"])

    result = parse(workbook_bytes(sheets))

    assert "names share 'marketing', which is not in the share sheet" in result.errors[0].message
    assert result.errors[0].location == {"sheet": "data_objects", "row": 5, "column": "share"}


def test_cells_are_read_as_the_text_typed():
    sheets = document_sheets(valid_document())
    sheets["metadata"][2][1] = 2024
    sheets["recipient"][0].append("token_expiry_days")
    sheets["recipient"][1].append(90.0)
    sheets["data_objects"][1][2] = False

    pack = parse(workbook_bytes(sheets)).spec

    assert pack.metadata.project_name == "2024"
    assert pack.recipients[0].token_expiry_days == 90
    assert pack.shares[0].data_objects[0].history is False


def test_formulas_are_read_as_text_never_evaluated():
    workbook = Workbook()
    sheets = document_sheets(valid_document())
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook["metadata"]["B4"] = '=CONCAT("Fin", "ance")'
    buffer = io.BytesIO()
    workbook.save(buffer)

    result = parse(buffer.getvalue())

    assert result.spec.metadata.business_line == '=CONCAT("Fin", "ance")'
    assert "formula" in result.warnings[0].message
    assert result.warnings[0].location == {"sheet": "metadata", "row": 4, "column": "B"}


def test_a_formula_in_a_checked_field_fails_its_check():
    sheets = document_sheets(valid_document())
    sheets["recipient"][1][sheets["recipient"][0].index("email")] = '=HYPERLINK("http://evil.example")'

    result = parse(workbook_bytes(sheets))

    assert "recipient[0].email" in messages(result.errors)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is not a zip", "not an Excel workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not an Excel workbook"),
        (b"PK\x03\x04 truncated", "not an Excel workbook"),
    ],
)
def test_an_xlsx_that_is_not_a_zip_is_an_error(content, fragment):
    result = parse(content)

    assert result.file_format == "xlsx"
    assert fragment in result.errors[0].message


def test_a_zip_that_is_not_a_workbook_is_unsupported():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")

    with pytest.raises(UnsupportedMediaType):
        parse(buffer.getvalue(), filename="letter.docx")


def bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * size)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_by_ratio_before_parsing():
    started = time.perf_counter()

    result = parse(bomb(20 * 1024 * 1024))

    assert time.perf_counter() - started < 1
    assert "zip bomb" in result.errors[0].message


def patch_central_sizes(content: bytes, uncompressed: int) -> bytes:
    """Rewrite every central directory entry's uncompressed size (what a crafted bomb lies about)."""
    patched = bytearray(content)
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) != -1:
        struct.pack_into("<I", patched, start + 24, uncompressed)
        start += 4
    return bytes(patched)


def test_a_zip_declaring_an_absurd_size_is_refused():
    result = parse(patch_central_sizes(bomb(1000), MAX_UNCOMPRESSED_BYTES // 2 + 1))

    assert "too large when unpacked" in result.errors[0].message


def test_a_zip_under_declaring_its_size_is_refused_as_damaged():
    content = workbook_bytes(document_sheets(valid_document()))

    result = parse(patch_central_sizes(content, 10))

    assert result.spec is None
    assert "damaged" in result.errors[0].message or "could not be read" in result.errors[0].message


def test_the_committed_example_workbook_is_valid():
    with open("examples/sample_sharepack.xlsx", "rb") as handle:
        result = parse(handle.read())

    assert result.is_valid, result.errors
    assert result.warnings == []
