"""Hostile share pack files, generated: each is small to send and was costly or fatal to parse naively.

Each generator returns `(filename, content)`. The unit tests, the `sharepack validate` tests and the API
tests behind gunicorn (`tests/integration/api/test_hostile_uploads.py`) all use these, so every attack class
is checked at every entry point. `HOSTILE_FILES` names each one by its attack class.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from tests.unit.share_pack_file.conftest import document_sheets, valid_document, workbook_bytes, yaml_bytes

HostileFile = tuple[str, bytes]


def replace_sheet_xml(workbook: bytes, part: str, sheet_xml: bytes) -> bytes:
    """Return `workbook` with the zip part `part` (e.g. `xl/worksheets/sheet2.xml`) replaced by `sheet_xml`."""
    source = zipfile.ZipFile(io.BytesIO(workbook))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry.filename, sheet_xml if entry.filename == part else source.read(entry))
    return buffer.getvalue()


def valid_workbook() -> bytes:
    return workbook_bytes(document_sheets(valid_document()))


def _recipient_sheet_with(cells: str, dimension: str = "A1:E3") -> bytes:
    """The recipient sheet (sheet2) of the valid workbook with `cells` added after its own rows."""
    xml = valid_workbook_part("xl/worksheets/sheet2.xml")
    xml = xml.replace(b'<dimension ref="A1:E3" />', f'<dimension ref="{dimension}" />'.encode())
    return replace_sheet_xml(valid_workbook(), "xl/worksheets/sheet2.xml",
                             xml.replace(b"</sheetData>", cells.encode() + b"</sheetData>"))


def valid_workbook_part(part: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(valid_workbook())).read(part)


def excel_formula_backtracking(tags: int = 60_000) -> HostileFile:
    """A formula tag followed by many unclosed cell tags: a lazy regex looking for `</c>` rescans to the end
    from every `<c`, so the work is quadratic in the part's size (the zip stays a few KB)."""
    xml = b'<worksheet><sheetData><row r="1"><c r="A1"><f>1</f>' + b"<c " * tags + b"</row></sheetData></worksheet>"
    return "formula-backtracking.xlsx", replace_sheet_xml(valid_workbook(), "xl/worksheets/sheet2.xml", xml)


def excel_far_corners() -> HostileFile:
    """Cells at A1 and XFD1048576: a dense reader allocates the whole grid (17 billion cells)."""
    cell = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    return "far-corners.xlsx", _recipient_sheet_with(cell, dimension="A1:XFD1048576")


def excel_reference_outside_grid() -> HostileFile:
    """A cell reference beyond the grid (column ZZZZ, row 99,999,999)."""
    cell = '<row r="99999999"><c r="ZZZZ99999999" t="inlineStr"><is><t>x</t></is></c></row>'
    return "outside-grid.xlsx", _recipient_sheet_with(cell)


def excel_sparse_rectangle() -> HostileFile:
    """Two cells, at A1 and CV10001: inside the row and column bounds, but the rectangle between them is a
    million cells the reader would allocate and convert."""
    cell = '<row r="10001"><c r="CV10001" t="inlineStr"><is><t>x</t></is></c></row>'
    return "sparse-rectangle.xlsx", _recipient_sheet_with(cell)


def excel_dimension_outside_grid() -> HostileFile:
    """Only a few real cells, but a `<dimension>` that claims far more than the grid holds."""
    return "dimension.xlsx", _recipient_sheet_with("", dimension="A1:ZZZZZ999999999")


def excel_rows_beyond_bound(rows: int = 120_000) -> HostileFile:
    """Rows without a row number each count as the next row: many empty rows put the last cell past the bound."""
    cell = '<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    return "many-rows.xlsx", _recipient_sheet_with("<row/>" * rows + cell)


def excel_doctype() -> HostileFile:
    """A sheet part with a DTD declaring nested entities (billion laughs); OOXML parts never carry a DTD."""
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    xml = f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]><worksheet><sheetData><row r="1">' \
          '<c r="A1" t="inlineStr"><is><t>&a9;</t></is></c></row></sheetData></worksheet>'
    return "doctype.xlsx", replace_sheet_xml(valid_workbook(), "xl/worksheets/sheet2.xml", xml.encode())


def excel_nul_escape() -> HostileFile:
    """An OOXML `_x0000_` escape: the workbook's text decodes to a NUL character, which XML itself cannot hold."""
    sheets = document_sheets(valid_document())
    sheets["recipient"][0].append("comment")
    sheets["recipient"][1].append("before_x0000_after")
    return "nul-escape.xlsx", workbook_bytes(sheets)


def yaml_alias_amplification(scalar_bytes: int = 100_000, references: int = 3_000) -> HostileFile:
    """One 100 KB scalar referenced by thousands of fields: small to send, hundreds of MB once expanded."""
    text = yaml_bytes(valid_document()).decode()
    recipients = "".join(
        f"- name: r{i}\n  type: D2O\n  email: r{i}@example.com\n  comment: *big\n" for i in range(references)
    )
    text = text.replace("recipient:\n", f"recipient:\n- name: r\n  type: D2O\n  email: r@example.com\n"
                        f"  comment: &big {'A' * scalar_bytes}\n{recipients}", 1)
    return "alias-amplification.yaml", text.encode()


def yaml_unknown_keys(count: int = 20_000) -> HostileFile:
    """Tens of thousands of unknown keys in one recipient: one issue each, each located in its mapping."""
    document = valid_document()
    document["recipient"][0].update({f"unknown_{i}": i for i in range(count)})
    return "unknown-keys.yaml", yaml_bytes(document)


def yaml_long_unknown_key(length: int = 1_000_000) -> HostileFile:
    """One unknown key of a megabyte: echoing it in the message would send it all back."""
    document = valid_document()
    document["recipient"][0]["k" * length] = 1
    return "long-key.yaml", yaml_bytes(document)


def yaml_nul_in_comment() -> HostileFile:
    """A NUL character (the valid YAML escape `\\0`) in a comment; PostgreSQL text cannot hold it."""
    text = yaml_bytes(valid_document()).decode()
    text = text.replace("- name: Sales\n", '- name: Sales\n  comment: "before\\0after"\n', 1)
    return "nul-comment.yaml", text.encode()


def yaml_control_in_name() -> HostileFile:
    """An ESC (a terminal escape sequence) in a recipient name."""
    text = yaml_bytes(valid_document()).decode()
    return "control-name.yaml", text.replace("- name: Acme", '- name: "Ac\\e[31mme"', 1).encode()


def yaml_huge_comment(size: int = 2 * 1024 * 1024) -> HostileFile:
    """A 2 MB comment: accepted, it would be stored, sent to Databricks and echoed in error messages."""
    document = valid_document()
    document["share"][0]["comment"] = "C" * size
    return "huge-comment.yaml", yaml_bytes(document)


def yaml_long_name(length: int = 100_000) -> HostileFile:
    """A share name far beyond Databricks' 255 characters."""
    document = valid_document()
    document["share"][0]["name"] = "s" * length
    return "long-name.yaml", yaml_bytes(document)


def yaml_many_bad_values(count: int = 15_000) -> HostileFile:
    """Tens of thousands of invalid data object names, each a long value echoed in its message."""
    document = valid_document()
    document["share"][0]["data_objects"] = [f"{'x' * 500}{i}" for i in range(count)]
    return "many-bad-values.yaml", yaml_bytes(document)


def yaml_lone_surrogate() -> HostileFile:
    """A lone UTF-16 surrogate (the YAML escape `\\ud800`): Python holds it, UTF-8 and PostgreSQL cannot."""
    text = yaml_bytes(valid_document()).decode()
    return "surrogate.yaml", text.replace("- name: Sales\n", '- name: Sales\n  comment: "a\\ud800b"\n', 1).encode()


def yaml_dense_values(count: int = 4_000_000) -> HostileFile:
    """Millions of one-character values (`[0,0,0,...]`): each becomes a node object when composed."""
    return "dense-values.yaml", b"metadata: [" + b"0," * count + b"0]\n"


HOSTILE_FILES: dict[str, Callable[[], HostileFile]] = {
    "excel-formula-backtracking": excel_formula_backtracking,
    "excel-far-corners": excel_far_corners,
    "excel-reference-outside-grid": excel_reference_outside_grid,
    "excel-dimension-outside-grid": excel_dimension_outside_grid,
    "excel-sparse-rectangle": excel_sparse_rectangle,
    "excel-rows-beyond-bound": excel_rows_beyond_bound,
    "excel-doctype": excel_doctype,
    "excel-nul-escape": excel_nul_escape,
    "yaml-alias-amplification": yaml_alias_amplification,
    "yaml-unknown-keys": yaml_unknown_keys,
    "yaml-long-unknown-key": yaml_long_unknown_key,
    "yaml-nul-in-comment": yaml_nul_in_comment,
    "yaml-control-in-name": yaml_control_in_name,
    "yaml-huge-comment": yaml_huge_comment,
    "yaml-long-name": yaml_long_name,
    "yaml-many-bad-values": yaml_many_bad_values,
    "yaml-lone-surrogate": yaml_lone_surrogate,
    "yaml-dense-values": yaml_dense_values,
}


# The third round: each of these reached a recursive routine, a C extension or Python's integer conversion
# unbounded, or was accepted when it must not be.


def _valid_yaml() -> str:
    return yaml_bytes(valid_document()).decode()


def yaml_deep_flow_closed_in_quotes(depth: int = 50_000) -> HostileFile:
    """Flow sequences tens of thousands deep whose closing brackets sit inside a quoted scalar written first:
    a count of every bracket in the text sees them balanced; libyaml's recursive parser sees the nesting."""
    return "deep-flow-quoted.yaml", (f'metadata: "{"]" * depth}"\nrecipient: ' + "[" * depth + "\n").encode()


def yaml_deep_flow_closed_in_comment(depth: int = 50_000) -> HostileFile:
    """The same with the closing brackets inside a comment."""
    return "deep-flow-comment.yaml", (f"# {'}' * depth}\nrecipient: " + "{a: " * depth + "\n").encode()


def yaml_deep_merge_keys(depth: int = 450) -> HostileFile:
    """Merge keys (`<<`) nested hundreds deep: the constructor flattens them recursively."""
    merges = "{<<: " * depth + "{a: 1}" + "}" * depth
    return "deep-merge.yaml", (_valid_yaml() + f"pipelines:\n- {merges}\n").encode()


def yaml_huge_integer(digits: int = 5_000) -> HostileFile:
    """An integer beyond Python's 4,300-digit conversion limit where a number is expected."""
    text = _valid_yaml().replace("  type: D2O\n", f"  type: D2O\n  token_expiry_days: {'9' * digits}\n", 1)
    return "huge-integer.yaml", text.encode()


def yaml_nan_for_integer() -> HostileFile:
    """`.nan` and `.inf` where whole numbers are expected."""
    pipeline = ("pipelines:\n- name: p\n  source_table: sales.reporting.raw\n  target_table: sales.reporting.orders\n"
                "  scd_type: .inf\n")
    text = _valid_yaml().replace("  type: D2O\n", "  type: D2O\n  token_expiry_days: .nan\n", 1) + pipeline
    return "nan.yaml", text.encode()


def _with_pipeline(**fields: str) -> str:
    pipeline = {"name": "p", "source_table": "sales.reporting.raw", "target_table": "sales.reporting.orders",
                **fields}
    return _valid_yaml() + "pipelines:\n- " + "\n  ".join(f"{key}: {value}" for key, value in pipeline.items()) + "\n"


def yaml_time_zone_directory() -> HostileFile:
    """A time zone naming a directory of the zone database."""
    return "zone-directory.yaml", _with_pipeline(schedule="'0 0 2 * * ?'", timezone="America").encode()


def yaml_time_zone_path() -> HostileFile:
    """A time zone naming a path out of the zone database."""
    return "zone-path.yaml", _with_pipeline(schedule="'0 0 2 * * ?'", timezone="../../../etc/passwd").encode()


def yaml_cron_increment_beyond_field() -> HostileFile:
    """A Quartz increment larger than its field (every 90 minutes of an hour)."""
    return "cron-increment.yaml", _with_pipeline(schedule="'0 0/90 * * * ?'").encode()


def yaml_cron_huge_number(digits: int = 5_000) -> HostileFile:
    """A cron field of thousands of digits."""
    return "cron-digits.yaml", _with_pipeline(schedule=f"'0 {'1' * digits} * * * ?'").encode()


def yaml_name_longer_once_lower_cased() -> HostileFile:
    """A name of 200 characters that lower-cases to 400 (`İ` lower-cases to two)."""
    return "dotted-i.yaml", _valid_yaml().replace("- name: Sales\n", f"- name: {'İ' * 200}\n", 1).encode()


def yaml_bidi_override_in_name() -> HostileFile:
    """A right-to-left override in a name: it shows as another name on every screen."""
    return "bidi.yaml", _valid_yaml().replace("- name: Sales\n", "- name: \"Sa\\u202eles\"\n", 1).encode()


def yaml_zero_width_in_name() -> HostileFile:
    """A zero-width space in a name: two names that look the same."""
    return "zero-width.yaml", _valid_yaml().replace("- name: Sales\n", "- name: \"Sa\\u200bles\"\n", 1).encode()


def yaml_hex_number_as_name() -> HostileFile:
    """An unquoted `0x7A69` as a name: YAML reads the integer 31337."""
    return "hex-name.yaml", _valid_yaml().replace("- name: Sales\n", "- name: 0x7A69\n", 1).encode()


def yaml_long_line_of_invalid_items(count: int = 40_000) -> HostileFile:
    """One line of hundreds of KB: tens of thousands of invalid data objects, comma-separated in one value."""
    line = ",".join(f"bad{i}" for i in range(count))
    document = valid_document()
    document["share"][0]["data_objects"] = line
    return "long-line.yaml", yaml_bytes(document)


def yaml_long_line_of_invalid_recipients(count: int = 27_000) -> HostileFile:
    """One 570 KB line: tens of thousands of invalid recipients in one flow sequence, each a schema load."""
    line = ", ".join(["{name: a b, type: X}"] * count)
    return "long-line-recipients.yaml", (_valid_yaml().replace("recipient:\n", "recipient_old:\n", 1)
                                         + f"recipient: [{line}]\n").encode()


def excel_many_unreferenced_parts(parts: int = 900, rows: int = 1_000) -> HostileFile:
    """Hundreds of parts full of cells that no sheet of the workbook refers to (tens of MB to scan), around a
    pack with one bad value: the refusal must not wait for the parts nothing reads."""
    document = valid_document()
    document["recipient"][0]["email"] = "not an address"
    workbook = workbook_bytes(document_sheets(document))
    cells = b"".join(f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()
                     for row in range(1, rows))
    filler = b"<worksheet><sheetData>" + cells + b"</sheetData></worksheet>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        source = zipfile.ZipFile(io.BytesIO(workbook))
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry))
        for index in range(parts):
            target.writestr(f"xl/worksheets/unused{index}.xml", filler)
    return "many-parts.xlsx", buffer.getvalue()


def excel_cron_huge_number(digits: int = 5_000) -> HostileFile:
    """The Pipelines sheet's schedule with a field of thousands of digits."""
    sheets = document_sheets(valid_document())
    sheets["Pipelines"] = [["name", "source_table", "target_table", "schedule"],
                           ["p", "sales.reporting.raw", "sales.reporting.orders", f"0 {'7' * digits} * * * ?"]]
    return "cron-digits.xlsx", workbook_bytes(sheets)


HOSTILE_FILES.update({
    "yaml-deep-flow-closed-in-quotes": yaml_deep_flow_closed_in_quotes,
    "yaml-deep-flow-closed-in-comment": yaml_deep_flow_closed_in_comment,
    "yaml-deep-merge-keys": yaml_deep_merge_keys,
    "yaml-huge-integer": yaml_huge_integer,
    "yaml-nan-for-integer": yaml_nan_for_integer,
    "yaml-time-zone-directory": yaml_time_zone_directory,
    "yaml-time-zone-path": yaml_time_zone_path,
    "yaml-cron-increment-beyond-field": yaml_cron_increment_beyond_field,
    "yaml-cron-huge-number": yaml_cron_huge_number,
    "yaml-name-longer-once-lower-cased": yaml_name_longer_once_lower_cased,
    "yaml-bidi-override-in-name": yaml_bidi_override_in_name,
    "yaml-zero-width-in-name": yaml_zero_width_in_name,
    "yaml-long-line-of-invalid-items": yaml_long_line_of_invalid_items,
    "yaml-long-line-of-invalid-recipients": yaml_long_line_of_invalid_recipients,
    "excel-many-unreferenced-parts": excel_many_unreferenced_parts,
    "excel-cron-huge-number": excel_cron_huge_number,
})
