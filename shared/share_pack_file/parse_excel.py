"""Read an Excel share pack into the same document a YAML file gives.

Layout: sheets `metadata` (columns field, value), `recipient` and `share` (a row each), `data_objects` (a row
per object, naming its share). Sheet and column names match ignoring case, spaces and plural forms. Workbooks
made for the original system still load: their data objects sit comma-separated in the share sheet's
`data_objects` column. The optional `Pipelines` sheet holds a pipeline per row. Every cell is read as text and
the marshmallow fields give it its type, exactly as for YAML.

Safety: `excel_archive.inspect_workbook` checks the zip and every worksheet before the reader sees them, and
formulas are never evaluated: the cell's formula text is its value. Speed: the Rust calamine engine, called
directly (pandas' reader on top of it took two to three times as long); pandas with openpyxl is kept only so
the benchmark can show what calamine saves.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from python_calamine import CalamineWorkbook

from shared.share_pack_file.excel_archive import column_letters, inspect_workbook
from shared.share_pack_file.issues import Findings, Path, echo
from shared.share_pack_file.limits import FormatLimits
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
    aliases,
    aliases_of,
    field_names,
)
from shared.share_pack_file.validate import unknown_field_message
from shared.share_pack_file.values import split_delimited

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
Cells = list[list[Any]]


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


def read_excel(
    content: bytes, findings: Findings, *, limits: FormatLimits | None = None, engine: str = "calamine"
) -> dict[str, Any] | None:
    """Read workbook bytes into a share pack document; on failure add an error and return None.

    Raises `UnsupportedMediaType` for a zip that is not a workbook. Sets `findings.locator`.
    """
    inspected = inspect_workbook(content, findings, limits or FormatLimits())
    if inspected is None:
        return None
    try:
        titles, read_sheet = _open(content, engine)
    except Exception as exc:  # a hostile or damaged workbook can fail anywhere inside the reader
        findings.error((), f"The workbook could not be read ({type(exc).__name__}: {echo(exc)}); save it again "
                       "from Excel as .xlsx.")
        return None
    locator = ExcelLocator()
    findings.locator = locator
    roles = _assign_roles(titles, findings)
    tables: dict[str, _Table] = {}
    for role, title in roles.items():
        try:
            cells = read_sheet(title)
        except Exception as exc:  # as above: the reader's own errors vary by engine and damage
            findings.error((), f"The sheet '{echo(title)}' could not be read ({type(exc).__name__}: {echo(exc)}).",
                           {"sheet": title})
            return None
        _overlay_formulas(cells, inspected.formulas.get(title, {}), title, findings)
        tables[role] = _read_table(role, title, cells, findings)
    locator.tables = tables
    return _document(tables, locator, findings)


def _open(content: bytes, engine: str) -> tuple[list[str], Callable[[str], Cells]]:
    """Return the sheet titles and a function reading one sheet as rows of cells, from A1."""
    if engine == "calamine":
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        return list(book.sheet_names), lambda title: book.get_sheet_by_name(title).to_python(skip_empty_area=False)
    import pandas as pd  # only the benchmark's naive path reads through pandas

    frames = pd.ExcelFile(io.BytesIO(content), engine=engine)

    def read(title: str) -> Cells:
        frame = pd.read_excel(frames, sheet_name=title, header=None, dtype=object, na_filter=False)
        return frame.to_numpy(dtype=object).tolist()

    return list(frames.sheet_names), read


def _overlay_formulas(cells: Cells, formulas: dict[tuple[int, int], str], title: str, findings: Findings) -> None:
    for (row, column), text in sorted(formulas.items()):
        while len(cells) <= row:
            cells.append([])
        line = cells[row]
        line.extend([None] * (column + 1 - len(line)))
        line[column] = text
        findings.warn((), f"Cell {column_letters(column)}{row + 1} holds a formula ({echo(text)}); formulas are "
                      "not calculated, so its text is used as the value. Type the value instead.",
                      {"sheet": title, "row": row + 1, "column": column_letters(column)})


def _assign_roles(titles: list[str], findings: Findings) -> dict[str, str]:
    roles: dict[str, str] = {}
    for title in titles:
        role = _SHEET_ROLES.get(_key(title).removesuffix("s"))
        if role is None:
            findings.warn((), f"The sheet '{echo(title)}' is not part of a share pack and was ignored.",
                          {"sheet": title})
        elif role in roles:
            findings.error((), f"The sheets '{echo(roles[role])}' and '{echo(title)}' are both the {role} sheet; "
                           "keep one.",
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
    headerless: dict[int, dict[str, Any]] = {}
    for column, value in enumerate(cells[start]):
        header = _text(value)
        key = _key(header) if header else None
        where = {"sheet": title, "row": start + 1, "column": header or column_letters(column)}
        if key in renames:
            findings.warn((role,), f"The column '{header}' is an old name for '{renames[key]}'; it was read as "
                          f"'{renames[key]}'.", where)
            key = renames[key]
        if key is None:
            headerless[column] = where
        elif key not in known:
            findings.error((role,), unknown_field_message(header or key, known,
                                                          f"column of the '{echo(title)}' sheet"),
                           where)
            key = None
        elif key in table.headers:
            findings.error((), f"The column '{header}' appears twice in the '{echo(title)}' sheet.", where)
            key = None
        else:
            table.headers[key] = header or key
        keys.append(key)
    if headerless:  # one pass over the rows, whatever the number of columns without a header
        filled = {column for row in cells[start + 1:] for column in headerless
                  if column < len(row) and _text(row[column])}
        for column in sorted(filled):
            findings.warn((), f"Column {column_letters(column)} has values but no header; it was ignored.",
                          headerless[column])
    missing = [name for name in _REQUIRED_COLUMNS[role] if name not in table.headers]
    if missing:
        findings.error((role,), f"The '{echo(title)}' sheet has no {', '.join(repr(name) for name in missing)} column "
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
            what = f"share '{echo(share_name)}', which is not in the share sheet" if share_name else "no share"
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
