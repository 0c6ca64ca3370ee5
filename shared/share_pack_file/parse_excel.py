"""Read an Excel share pack into the same document a YAML file gives, and refuse workbooks that would hurt us.

Layout: sheets `metadata` (columns field, value), `recipient` and `share` (a row each), `data_objects` (a row
per object, naming its share). Sheet and column names match ignoring case, spaces and plural forms. Workbooks
made for the original system still load: their data objects sit comma-separated in the share sheet's
`data_objects` column. The optional `Pipelines` sheet holds a pipeline per row. Every cell is read as text and
the marshmallow fields give it its type, exactly as for YAML.

Safety: the zip is checked before any parser sees it (entry count, declared and actual uncompressed size,
compression ratio), and formulas are never evaluated: the cell's formula text is its value. Speed: pandas with
the Rust calamine engine; openpyxl is kept only so the benchmark can show what it saves.
"""

from __future__ import annotations

import html
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from shared.errors import UnsupportedMediaType
from shared.share_pack_file.issues import Findings, Path
from shared.share_pack_file.schema import (
    DATA_OBJECTS_SHEET,
    METADATA_COLUMNS,
    SHARE_COLUMN,
    DataObjectSchema,
    MetadataSchema,
    PipelineSchema,
    RecipientSchema,
    ShareSchema,
    aliases,
    aliases_of,
    field_names,
    split_delimited,
)
from shared.share_pack_file.validate import unknown_field_message

MAX_ZIP_ENTRIES = 1_000
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
_RATIO_APPLIES_ABOVE = 1024 * 1024
PIPELINES_SHEET = "pipelines"

# Sheet names as written (lowercase, spaces as underscores, without a trailing "s") → the sheet's role.
_SHEET_ROLES = {
    "metadata": "metadata",
    "recipient": "recipient",
    "share": "share",
    "data_object": DATA_OBJECTS_SHEET,
    **{alias.removesuffix("s"): DATA_OBJECTS_SHEET for alias in aliases_of("data_objects")},
    "pipeline": PIPELINES_SHEET,
}
_REQUIRED_COLUMNS = {
    "metadata": METADATA_COLUMNS,
    "recipient": ("name",),
    "share": ("name",),
    DATA_OBJECTS_SHEET: (SHARE_COLUMN, "name"),
    PIPELINES_SHEET: ("name",),
}
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_CELL_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.DOTALL)
_CELL_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_XML_ATTRIBUTE = re.compile(rb'([\w:]+)="([^"]*)"')


@dataclass
class _Table:
    """One sheet as header columns and rows of text cells."""

    title: str
    header_row: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # canonical column → header as written
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (Excel row number, cells)


class ExcelLocator:
    """Locates paths in the workbook: sheet title, 1-based row number and column header as written."""

    def __init__(self) -> None:
        self.tables: dict[str, _Table] = {}
        self.item_rows: dict[str, list[int]] = {"recipient": [], "share": []}
        self.metadata_rows: dict[str, int] = {}
        self.object_rows: dict[int, list[tuple[str, int]]] = {}  # share index → (sheet role, row) per object

    def locate(self, path: Path) -> dict[str, Any]:
        """Return `{"sheet", "row", "column"}` for `path`, as much of it as is known."""
        if not path or path[0] not in self.tables:
            return {}
        role = str(path[0])
        table = self.tables[role]
        if len(path) == 1:
            return {"sheet": table.title}
        if role == "metadata":
            row = self.metadata_rows.get(str(path[1]))
            if row is None:
                return {"sheet": table.title}
            return {"sheet": table.title, "row": row, "column": table.headers.get("value", "value")}
        index = path[1]
        rows = self.item_rows.get(role, [])
        if not isinstance(index, int) or index >= len(rows):
            return {"sheet": table.title}
        if role == "share" and len(path) > 3 and path[2] == "data_objects" and isinstance(path[3], int):
            origins = self.object_rows.get(index, [])
            if path[3] < len(origins):
                origin, row = origins[path[3]]
                if origin == DATA_OBJECTS_SHEET:
                    objects = self.tables[DATA_OBJECTS_SHEET]
                    column = path[4] if len(path) > 4 and isinstance(path[4], str) else "name"
                    return {"sheet": objects.title, "row": row, "column": objects.headers.get(column, column)}
        location: dict[str, Any] = {"sheet": table.title, "row": rows[index]}
        if len(path) > 2 and isinstance(path[2], str):
            location["column"] = table.headers.get(path[2], path[2])
        return location


def read_excel(content: bytes, findings: Findings, *, engine: str = "calamine") -> dict[str, Any] | None:
    """Read workbook bytes into a share pack document; on failure add an error and return None.

    Raises `UnsupportedMediaType` for a zip that is not a workbook. Sets `findings.locator`.
    """
    formulas = _inspect_archive(content, findings)
    if formulas is None:
        return None
    try:
        book = pd.ExcelFile(io.BytesIO(content), engine=engine)
        titles = list(book.sheet_names)
    except Exception as exc:  # a hostile or damaged workbook can fail anywhere inside the engine
        findings.error((), f"The workbook could not be read ({type(exc).__name__}: {exc}); save it again "
                       "from Excel as .xlsx.")
        return None
    locator = ExcelLocator()
    findings.locator = locator
    roles = _assign_roles(titles, findings)
    tables: dict[str, _Table] = {}
    for role, title in roles.items():
        try:
            frame = pd.read_excel(book, sheet_name=title, header=None, dtype=object, na_filter=False)
        except Exception as exc:  # as above: the engine's own errors vary by engine and damage
            findings.error((), f"The sheet '{title}' could not be read ({type(exc).__name__}: {exc}).",
                           {"sheet": title})
            return None
        cells = frame.to_numpy(dtype=object).tolist()
        _overlay_formulas(cells, formulas.get(title, {}), title, findings)
        tables[role] = _read_table(role, title, cells, findings)
    locator.tables = tables
    return _document(tables, locator, findings)


def _inspect_archive(content: bytes, findings: Findings) -> dict[str, dict[tuple[int, int], str]] | None:
    """Check the zip before any parser sees it; return the formula cells of each sheet (by sheet title)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        findings.error((), "The file is not an Excel workbook (.xlsx is a zip archive and this is not one); save "
                       "it from Excel as .xlsx.")
        return None
    names = {entry.filename for entry in entries}
    if "xl/workbook.xml" not in names:
        raise UnsupportedMediaType("The file is a zip archive but not an Excel workbook (.xlsx).")
    declared = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ZIP_ENTRIES or declared > MAX_UNCOMPRESSED_BYTES:
        findings.error((), f"The workbook is too large when unpacked ({len(entries)} parts, {declared:,} bytes; "
                       f"at most {MAX_ZIP_ENTRIES} parts and {MAX_UNCOMPRESSED_BYTES:,} bytes); it was refused.")
        return None
    for entry in entries:
        ratio = entry.file_size // max(entry.compress_size, 1)
        if entry.file_size > _RATIO_APPLIES_ABOVE and ratio > MAX_COMPRESSION_RATIO:
            findings.error((), f"The workbook part {entry.filename} is compressed {ratio} to 1, more than any real "
                           "workbook (a zip bomb); it was refused.")
            return None
    sheet_parts = _sheet_parts(archive)
    formulas: dict[str, dict[tuple[int, int], str]] = {}
    try:
        for entry in entries:
            # Reading every part checks its real size and CRC against the directory, which a bomb may fake.
            data = archive.read(entry)
            title = sheet_parts.get(entry.filename)
            if title is not None and _FORMULA.search(data):
                formulas[title] = _formulas_in(data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        findings.error((), f"The workbook is damaged ({exc}); save it again from Excel as .xlsx.")
        return None
    return formulas


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Map each worksheet's part name in the zip to its sheet title."""
    try:
        workbook = archive.read("xl/workbook.xml")
        relations = archive.read("xl/_rels/workbook.xml.rels")
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return {}
    targets = {}
    for element in re.findall(rb"<(?:\w+:)?Relationship\b[^>]*>", relations):
        attributes = dict(_XML_ATTRIBUTE.findall(element))
        target = html.unescape(attributes.get(b"Target", b"").decode("utf-8", "replace"))
        targets[attributes.get(b"Id", b"")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    parts = {}
    for element in re.findall(rb"<(?:\w+:)?sheet\b[^>]*>", workbook):
        attributes = dict(_XML_ATTRIBUTE.findall(element))
        relation = next((value for key, value in attributes.items() if key.endswith(b":id")), b"")
        if relation in targets:
            parts[targets[relation]] = html.unescape(attributes.get(b"name", b"").decode("utf-8", "replace"))
    return parts


def _formulas_in(sheet_xml: bytes) -> dict[tuple[int, int], str]:
    """Return `{(row, column): "=formula"}` (0-based) for the formula cells of a worksheet part."""
    found = {}
    for cell in _CELL.finditer(sheet_xml):
        body = cell.group(2) or b""
        formula = _CELL_FORMULA.search(body)
        reference = _CELL_REF.search(cell.group(1))
        if formula is None or reference is None:
            continue
        text = html.unescape((formula.group(1) or b"").decode("utf-8", "replace"))
        column = 0
        for letter in reference.group(1):
            column = column * 26 + letter - ord("A") + 1
        found[(int(reference.group(2)) - 1, column - 1)] = f"={text}" if text else "=(shared formula)"
    return found


def _overlay_formulas(
    cells: list[list[Any]], formulas: dict[tuple[int, int], str], title: str, findings: Findings
) -> None:
    for (row, column), text in sorted(formulas.items()):
        while len(cells) <= row:
            cells.append([])
        line = cells[row]
        line.extend([None] * (column + 1 - len(line)))
        line[column] = text
        findings.warn((), f"Cell {_column_letter(column)}{row + 1} holds a formula ({text}); formulas are not "
                      "calculated, so its text is used as the value. Type the value instead.",
                      {"sheet": title, "row": row + 1, "column": _column_letter(column)})


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _assign_roles(titles: list[str], findings: Findings) -> dict[str, str]:
    roles: dict[str, str] = {}
    for title in titles:
        role = _SHEET_ROLES.get(_key(title).removesuffix("s"))
        if role is None:
            findings.warn((), f"The sheet '{title}' is not part of a share pack and was ignored.", {"sheet": title})
        elif role in roles:
            findings.error((), f"The sheets '{roles[role]}' and '{title}' are both the {role} sheet; keep one.",
                           {"sheet": title})
        else:
            roles[role] = title
    return roles


def _read_table(role: str, title: str, cells: list[list[Any]], findings: Findings) -> _Table:
    """Read a sheet's header (its first non-empty row) and its rows of text cells."""
    table = _Table(title=title)
    start = next((index for index, row in enumerate(cells) if any(_text(value) for value in row)), None)
    if start is None:
        return table
    table.header_row = start + 1
    known = _columns(role)
    renames = aliases(DataObjectSchema() if role == DATA_OBJECTS_SHEET else _schema(role))
    keys: list[str | None] = []
    for column, value in enumerate(cells[start]):
        header = _text(value)
        key = _key(header) if header else None
        where = {"sheet": title, "row": start + 1, "column": header or _column_letter(column)}
        if key in renames:
            findings.warn((role,), f"The column '{header}' is an old name for '{renames[key]}'; it was read as "
                          f"'{renames[key]}'.", where)
            key = renames[key]
        if key is None:
            if any(column < len(row) and _text(row[column]) for row in cells[start + 1 :]):
                findings.warn((), f"Column {_column_letter(column)} has values but no header; it was ignored.",
                              where)
        elif key not in known:
            findings.error((role,), unknown_field_message(header or key, known, f"column of the '{title}' sheet"),
                           where)
            key = None
        elif key in table.headers:
            findings.error((), f"The column '{header}' appears twice in the '{title}' sheet.", where)
            key = None
        else:
            table.headers[key] = header or key
        keys.append(key)
    missing = [name for name in _REQUIRED_COLUMNS[role] if name not in table.headers]
    if missing:
        findings.error((role,), f"The '{title}' sheet has no {', '.join(repr(name) for name in missing)} column "
                       f"(its header row is row {start + 1}).", {"sheet": title, "row": start + 1})
        return table
    for offset, row in enumerate(cells[start + 1 :], start=start + 2):
        values = {
            key: text for key, text in ((key, _text(value)) for key, value in zip(keys, row, strict=False))
            if key is not None and text is not None
        }
        if values:
            table.rows.append((offset, values))
    return table


def _document(tables: dict[str, _Table], locator: ExcelLocator, findings: Findings) -> dict[str, Any]:
    """Assemble the document the validator reads from the sheets."""
    document: dict[str, Any] = {}
    if "metadata" in tables:
        metadata: dict[str, str] = {}
        for row, cells in tables["metadata"].rows:
            name = _key(cells.get("field", ""))
            if not name:
                findings.error((), "This row has a value but no field name.", {"sheet": tables["metadata"].title,
                               "row": row})
            elif name in metadata:
                findings.error(("metadata", name), f"The field '{name}' is given twice (rows "
                               f"{locator.metadata_rows[name]} and {row}).")
            else:
                metadata[name] = cells.get("value")
                locator.metadata_rows[name] = row
        document["metadata"] = metadata
    for role in ("recipient", "share", PIPELINES_SHEET):
        if role in tables:
            document[role] = [cells for _, cells in tables[role].rows]
            locator.item_rows[role] = [row for row, _ in tables[role].rows]
    if DATA_OBJECTS_SHEET in tables and "share" in document:
        _attach_data_objects(tables[DATA_OBJECTS_SHEET], document["share"], locator, findings)
    return document


def _attach_data_objects(
    table: _Table, shares: list[dict[str, Any]], locator: ExcelLocator, findings: Findings
) -> None:
    by_name: dict[str, int] = {}
    for index, share in enumerate(shares):
        by_name.setdefault(str(share.get("name", "")).lower(), index)
        legacy = share.get("data_objects")
        locator.object_rows[index] = [("share", locator.item_rows["share"][index])] * len(
            split_delimited(legacy) if legacy else ()
        )
    for row, cells in table.rows:
        share_name = cells.pop(SHARE_COLUMN, None)
        index = by_name.get(share_name.lower()) if share_name else None
        if index is None:
            what = f"share '{share_name}', which is not in the share sheet" if share_name else "no share"
            findings.error((), f"This data object names {what}.", {"sheet": table.title, "row": row,
                           "column": table.headers[SHARE_COLUMN]})
            continue
        objects = shares[index].get("data_objects")
        if not isinstance(objects, list):
            objects = split_delimited(objects) if objects else []
            shares[index]["data_objects"] = objects
        # A row with only a name is the short form, exactly like a plain string in YAML.
        objects.append(cells["name"] if len(cells) == 1 and "name" in cells else cells)
        locator.object_rows[index].append((DATA_OBJECTS_SHEET, row))


def _schema(role: str) -> Any:
    schemas = {"metadata": MetadataSchema(), "recipient": RecipientSchema(), "share": ShareSchema(),
               PIPELINES_SHEET: PipelineSchema()}
    return schemas[role]


def _columns(role: str) -> tuple[str, ...]:
    if role == "metadata":
        return METADATA_COLUMNS
    if role == DATA_OBJECTS_SHEET:
        return (SHARE_COLUMN, *field_names(DataObjectSchema()))
    return field_names(_schema(role))


def _key(text: str) -> str:
    """Normalise a sheet, column or field name as written: lowercase, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _text(value: Any) -> str | None:
    """Return a cell as the text the requestor typed, or None when empty."""
    if type(value) is str:
        return value.strip() or None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value).strip()
    return text or None
