"""The bounds behind the hostile-file rule, each at its edge: text, issue lists, YAML values and aliases,
and worksheet positions computed the way the Excel reader computes them."""

from __future__ import annotations

import copy
import io
import zipfile

import pytest

from shared.share_pack_file import FormatLimits, parse_share_pack
from shared.share_pack_file.issues import MAX_REPORTED_ISSUES, echo
from shared.share_pack_file.parse_yaml import MAX_VALUES
from tests.unit.share_pack_file.conftest import document_sheets, messages, valid_document, workbook_bytes, yaml_bytes
from tests.unit.share_pack_file.hostile import replace_sheet_xml, valid_workbook, yaml_unknown_keys


def parse_yaml(document, limits: FormatLimits | None = None):
    return parse_share_pack(yaml_bytes(document), filename="pack.yaml", limits=limits)


def changed(change) -> dict:
    document = copy.deepcopy(valid_document())
    change(document)
    return document


# --- text ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "setter"),
    [
        ("recipient[0].name", lambda d: d["recipient"][0].update(name="ac\0me")),
        ("recipient[0].comment", lambda d: d["recipient"][0].update(comment="a\0b")),
        ("recipient[0].email", lambda d: d["recipient"][0].update(email="ops\0@acme.example.com")),
        ("metadata.description", lambda d: d["metadata"].update(description="why\x1b[2J")),
        ("metadata.project_name", lambda d: d["metadata"].update(project_name="p\x7f")),
        ("metadata.requestor", lambda d: d["metadata"].update(requestor='"\x01"@example.com')),
        ("share[0].comment", lambda d: d["share"][0].update(comment="a\x90b")),
        ("share[0].data_objects[0]", lambda d: d["share"][0]["data_objects"].__setitem__(0, "sales.rep\x9borting.x")),
        ("share[0].data_objects[1].name", lambda d: d["share"][0]["data_objects"][1].update(name="a.b.c\n")),
    ],
)
def test_control_characters_are_refused_where_they_are(path, setter):
    result = parse_yaml(changed(setter))

    assert not result.is_valid
    assert "control character" in messages(result.errors)[path] or "not a data object name" in messages(
        result.errors)[path]
    issue = next(issue for issue in result.errors if issue.path == path)
    assert issue.location["line"] > 1
    assert "\0" not in str(issue)


def test_free_text_keeps_tabs_and_line_breaks_and_names_do_not():
    result = parse_yaml(changed(lambda d: d["share"][0].update(comment="line one\r\n\tline two\n")))
    assert result.is_valid, result.errors

    result = parse_yaml(changed(lambda d: d["share"][0].update(name="sales\tshare")))
    assert "control character \\x09" in messages(result.errors)["share[0].name"]


def test_a_lone_surrogate_never_passes():
    text = yaml_bytes(valid_document()).replace(b"name: Sales", b'name: "Sa\\udc80les"')

    result = parse_share_pack(text, filename="pack.yaml")

    assert not result.is_valid


def test_comments_are_bounded_by_the_setting_at_its_edge():
    limits = FormatLimits(max_comment_chars=10)

    assert parse_yaml(changed(lambda d: d["share"][0].update(comment="c" * 10)), limits).is_valid
    result = parse_yaml(changed(lambda d: d["share"][0].update(comment="c" * 11)), limits)

    assert messages(result.errors)["share[0].comment"] == "'comment' may be at most 10 characters (this one has 11)."


def test_names_follow_databricks_limits():
    assert parse_yaml(changed(lambda d: d["share"][0].update(name="s" * 255))).is_valid
    result = parse_yaml(changed(lambda d: d["share"][0].update(name="s" * 256)))

    assert "at most 255 characters" in messages(result.errors)["share[0].name"]


def test_an_email_longer_than_rfc_5321_allows_is_refused():
    result = parse_yaml(changed(lambda d: d["recipient"][0].update(email="a" * 250 + "@example.com")))

    assert "at most 254 characters" in messages(result.errors)["recipient[0].email"]


# --- issues -------------------------------------------------------------------------------------------------


def test_issues_are_capped_with_a_count_of_the_rest():
    document = valid_document()
    document["recipient"] = [{"name": f"r{i}", **{f"unknown_{k}": k for k in range(50)}} for i in range(100)]

    result = parse_yaml(document)

    assert len(result.errors) == MAX_REPORTED_ISSUES + 1
    # Checking stops once the list is full (each further item would only be counted), and says so.
    assert result.errors[-1].message == ("… and more errors: checking stopped after the first 100 (2 more found, "
                                         "98 recipient items, 2 share items not checked).")
    assert result.errors[0].location["line"] > 1


def test_a_mapping_with_thousands_of_keys_is_refused_where_it_starts():
    filename, content = yaml_unknown_keys(count=5_000)

    result = parse_share_pack(content, filename=filename)

    assert result.errors[0].message.startswith("This mapping has 5,004 keys")
    assert result.errors[0].location == {"line": 7, "column": 3}


def test_echoed_values_are_cut_and_made_printable():
    assert echo("x" * 500) == "x" * 200 + "…"
    assert echo("a\0b\x1b\ud800") == "a\\x00b\\x1b\\ud800"

    result = parse_yaml(changed(lambda d: d["recipient"][0].update(type="D" * 10_000)))

    assert messages(result.errors)["recipient[0].type"] == f"type: Must be one of D2O, D2D (got '{'D' * 200}…')."


def test_a_share_may_list_thousands_of_recipients():
    def many(document):
        document["recipient"] = [{"name": f"r{i}", "type": "D2O", "email": f"r{i}@example.com"} for i in range(5000)]
        document["share"][0]["recipients"] = [f"r{i}" for i in range(5000)]
        document["share"][1]["recipients"] = ["r0"]

    result = parse_yaml(changed(many))

    assert result.is_valid, result.errors[:3]
    assert len(result.spec.shares[0].recipients) == 5000


# --- YAML values and aliases --------------------------------------------------------------------------------


def test_values_over_the_bound_are_refused_before_composing_and_a_pack_under_it_is_not():
    refused = parse_share_pack(b"metadata: [[" + b"0," * MAX_VALUES + b"0]]\n", filename="pack.yaml")
    assert f"more than {MAX_VALUES:,} values" in refused.errors[0].message

    # Many separators (every line of a description is a list item) but few values: counted, then accepted.
    dashes = "\n".join(["- -"] * 40_000)
    text = yaml_bytes(valid_document()) + f"x_notes: |\n  {dashes.replace(chr(10), chr(10) + '  ')}\n".encode()
    result = parse_share_pack(text, filename="pack.yaml")
    assert [issue.path for issue in result.errors] == ["x_notes"]


def test_alias_expansion_is_counted_in_bytes():
    big = "A" * 50_000
    anchored = yaml_bytes(valid_document()).decode().replace("metadata:\n", f"metadata:\n  description: &c {big}\n")
    copies = "".join(f"- name: r{i}\n  type: D2O\n  email: r{i}@example.com\n  comment: *c\n" for i in range(30))
    text = anchored.replace("recipient:\n", f"recipient:\n{copies}", 1)

    result = parse_share_pack(text.encode(), filename="pack.yaml")

    assert "alias bomb" in result.errors[0].message
    assert result.errors[0].location["line"] > 1


# --- worksheets ---------------------------------------------------------------------------------------------


def recipient_sheet(body: str) -> bytes:
    xml = f'<worksheet><dimension ref="A1:B2"/><sheetData>{body}</sheetData></worksheet>'.encode()
    return replace_sheet_xml(valid_workbook(), "xl/worksheets/sheet2.xml", xml)


def parse_excel(content: bytes, limits: FormatLimits | None = None):
    return parse_share_pack(content, filename="pack.xlsx", limits=limits)


HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
CELL = '<c t="inlineStr"><is><t>x</t></is></c>'


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (HEADER + f'<row r="6">{CELL}</row>', {"row": 6, "column": "A"}),
        (HEADER + f'<row r="5"/><row>{CELL}</row>', {"row": 6, "column": "A"}),  # an empty row counts
        (HEADER + f'<row r="2"><c r="C2"/>{CELL}</row>', {"row": 2, "column": "D"}),  # the next column
        (HEADER + '<row r="2"><x:c r = \'d2\' t="inlineStr"><is><t>y</t></is></x:c></row>', {"row": 2, "column": "D"}),
        (HEADER + f'<!-- <row r="1"> --><row r="5"></row><row>{CELL}</row>', {"row": 6, "column": "A"}),
    ],
    ids=["row-number", "empty-row", "implicit-column", "prefix-quotes-lowercase", "comment-ignored"],
)
def test_cell_positions_are_computed_like_the_engine_and_checked(body, where):
    limits = FormatLimits(max_sheet_rows=5, max_sheet_columns=3)

    result = parse_excel(recipient_sheet(body), limits)

    assert "a share pack sheet holds at most 5 rows and 3 columns (A1:C5)" in result.errors[0].message
    assert result.errors[0].location == {"sheet": "recipient", **where}


def test_the_rectangle_from_a1_is_bounded_in_cells():
    result = parse_excel(recipient_sheet(HEADER + f'<row r="40">{CELL}<c r="Z40"/></row>'),
                         FormatLimits(max_sheet_cells=1000))

    assert "at most 1,000 cells" in result.errors[0].message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (HEADER + '<row r="2"><c r="$A$2"/></row>', "not a cell of the Excel grid"),
        (HEADER + '<row r="2"><c r="XFE2"/></row>', "not a cell of the Excel grid"),
        (HEADER + '<row r="0"><c/></row>', "outside the Excel grid"),
        (HEADER + '<row r="2"><c =""/></row>', "malformed tag"),
        (HEADER + '<row r="2"><c r="A2" r="XFD2"/></row>', "malformed tag"),  # calamine would take the last
        (HEADER + "<!-- never closed", "never ends"),
    ],
)
def test_references_outside_the_grid_and_broken_tags_are_refused(body, fragment):
    result = parse_excel(recipient_sheet(body))

    assert fragment in result.errors[0].message
    assert result.errors[0].location["sheet"] == "recipient"


def test_a_dimension_beyond_the_bounds_is_refused():
    xml = b'<worksheet><dimension ref="A1:CW2"/><sheetData>' + HEADER.encode() + b"</sheetData></worksheet>"

    result = parse_excel(replace_sheet_xml(valid_workbook(), "xl/worksheets/sheet2.xml", xml))

    assert result.errors[0].location == {"sheet": "recipient", "row": 2, "column": "CW"}


def test_a_workbook_at_the_bounds_is_read():
    sheets = document_sheets(valid_document())
    rows = max(len(rows) for rows in sheets.values())
    columns = max(len(row) for rows in sheets.values() for row in rows)
    limits = FormatLimits(max_sheet_rows=rows, max_sheet_columns=columns, max_sheet_cells=rows * columns)

    result = parse_excel(workbook_bytes(sheets), limits)

    assert result.is_valid, result.errors


def test_an_encrypted_part_is_a_damaged_workbook_not_an_exception():
    content = bytearray(valid_workbook())
    start = 0
    while (start := content.find(b"PK\x01\x02", start)) != -1:  # each central directory record
        content[start + 8] |= 0x1  # general purpose flag bit 0: encrypted, so zipfile asks for a password
        start += 4

    result = parse_excel(bytes(content))

    assert "damaged" in result.errors[0].message


def test_a_worksheet_in_a_part_not_named_xml_is_scanned_too():
    cell = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    source = zipfile.ZipFile(io.BytesIO(valid_workbook()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry).replace(b"sheet2.xml", b"sheet2.dat")  # the part and every reference to it
            if entry.filename == "xl/worksheets/sheet2.xml":
                data = b"<worksheet><sheetData>" + cell + b"</sheetData></worksheet>"
            target.writestr(entry.filename.replace("sheet2.xml", "sheet2.dat"), data)

    result = parse_excel(buffer.getvalue())

    assert "reaches cell XFD1048576" in result.errors[0].message
