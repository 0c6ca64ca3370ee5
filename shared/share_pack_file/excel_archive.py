"""Check an .xlsx archive before any Excel reader reads it, in time linear in its size.

The reader (calamine, in Rust) is fast but trusts the file: it allocates the whole rectangle from A1 to the
farthest cell, so one cell at XFD1048576, or a reference beyond the grid, asks for hundreds of gigabytes and
aborts the process (SIGABRT, which no `except` catches). So every worksheet is scanned first:

* the zip: entry count, declared and actual uncompressed size (each part is read, so its CRC and real size
  are checked), compression ratio;
* every XML part: no document type declaration (package parts never carry one, and refusing it makes entity
  expansion impossible whatever reads the part next);
* every worksheet: its `<dimension>` and the position of every cell, computed the way calamine computes it
  (an `r` attribute, or the next column / next row when a cell or row has none), against the Excel grid
  (XFD1048576) and the `FormatLimits` bounds. Formula cells are collected on the way, because the reader
  gives their cached result and a share pack wants the text that was typed.

How the scan stays linear on hostile XML: it never runs an open-ended regex across the document. Comments,
CDATA sections and processing instructions are cut out with `bytes.find` (each search starts where the last
one ended). Tags are then matched by one regex whose quantifiers are possessive and cannot cross a `<`
outside quotes, so an attempt that fails stops at the next tag and nothing is rescanned; quoted attribute
values end at their closing quote. A tag the reader would read differently is refused, never guessed.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.platform.errors import UnsupportedMediaType
from shared.share_pack_file.issues import Findings, echo
from shared.share_pack_file.limits import FormatLimits

MAX_ZIP_ENTRIES = 1_000
# A workbook holding the design-scale pack (20,000 data objects) is 5 MB unpacked; ten times that is plenty.
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
_RATIO_APPLIES_ABOVE = 1024 * 1024
_READ_CHUNK = 1024 * 1024
# The grid of every Excel version since 2007: 1,048,576 rows by 16,384 columns (A1:XFD1048576),
# https://support.microsoft.com/en-us/office/excel-specifications-and-limits-1672b34d-7043-467e-8e27-269d656771c3
GRID_ROWS = 1_048_576
GRID_COLUMNS = 16_384

# Parts that hold cells: calamine starts reading cells at this element, so a part without it has none.
_SHEET_DATA = b"sheetData"
_SECTION = re.compile(rb"<(!--|!\[CDATA\[|\?|!)")
_SECTION_ENDS = {b"!--": b"-->", b"![CDATA[": b"]]>", b"?": b"?>"}
# One start, end or empty tag of the elements that matter, with an optional namespace prefix. When `r` is the
# first attribute, as every writer puts it, its column letters and row digits are captured on the way.
_TAG = re.compile(
    rb"<(/?+)(?:[^\s<>/=:\"']++:)?+(c|row|dimension|f|sheet|Relationship)(?=[\s/>])"
    rb"(?:\s++r=\"([A-Za-z]{1,3}+)?+([0-9]{1,7}+)\"(?=[\s/>]))?+"
    rb"((?:[^<>\"']++|\"[^\"]*+\"|'[^']*+')*+)>"
)
_ANOTHER_R = re.compile(rb"\sr\s*+=")
# The fast path: every cell start tag, with `r` when it is the first attribute; formula and dimension tags.
_PREFIX = rb"(?:[^\s<>/=:\"']++:)?+"
_CELL_TAG = re.compile(rb"<" + _PREFIX + rb"c(?=[\s/>])(?:\s++r=\"([A-Za-z]{1,3}+)?+([0-9]{1,7}+)\"(?=[\s/>]))?+"
                       rb"((?:[^<>\"']++|\"[^\"]*+\"|'[^']*+')*+)>")
_FORMULA_OR_DIMENSION_TAG = re.compile(rb"<" + _PREFIX + rb"(f|dimension)(?=[\s/>])"
                                       rb"((?:[^<>\"']++|\"[^\"]*+\"|'[^']*+')*+)>")
_ATTRIBUTE = re.compile(rb"\s++([^\s=<>/\"']++)\s*+=\s*+(?:\"([^\"]*+)\"|'([^']*+)')")
_ATTRIBUTES = re.compile(rb"(?:\s++[^\s=<>/\"']++\s*+=\s*+(?:\"[^\"]*+\"|'[^']*+'))*+\s*+/?+")
# calamine reads column letters in either case and refuses anything else (e.g. "$A$1").
_CELL_REFERENCE = re.compile(rb"([A-Za-z]{1,3})([0-9]{1,7})")
_ROW_NUMBER = re.compile(rb"[0-9]{1,7}")


class _Refused(Exception):
    """A part breaks a rule; `message` and `location` say which and where."""

    def __init__(self, message: str, location: dict[str, object]) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


@dataclass
class InspectedWorkbook:
    """What the scan learnt: each worksheet's title by part, and its formula cells `{(row, column): text}`."""

    titles: dict[str, str] = field(default_factory=dict)
    formulas: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)


def inspect_workbook(content: bytes, findings: Findings, limits: FormatLimits) -> InspectedWorkbook | None:
    """Check the archive and every worksheet in it; on a refusal add an error and return None.

    Raises:
        UnsupportedMediaType: a zip that is not an Excel workbook.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        findings.error((), "The file is not an Excel workbook (.xlsx is a zip archive and this is not one); save "
                       "it from Excel as .xlsx.")
        return None
    if "xl/workbook.xml" not in {entry.filename for entry in entries}:
        raise UnsupportedMediaType("The file is a zip archive but not an Excel workbook (.xlsx).")
    if not _archive_is_sane(entries, findings):
        return None
    try:
        parts = _read_parts(archive, entries)
        inspected = InspectedWorkbook(titles=_sheet_titles(parts))
        # Only the parts the workbook names as sheets are read by the reader; scanning the others (a workbook
        # may carry hundreds of unreferenced parts) would cost seconds and protect nothing.
        for name, title in inspected.titles.items():
            data = parts.get(name, b"")
            if _SHEET_DATA in data:
                inspected.formulas[title] = _scan_sheet(_markup(data, title), title, limits)
    except _Refused as refusal:
        findings.error((), refusal.message, refusal.location)
        return None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError: a compression method zipfile lacks.
        findings.error((), f"The workbook is damaged ({echo(exc)}); save it again from Excel as .xlsx.")
        return None
    return inspected


def _archive_is_sane(entries: list[zipfile.ZipInfo], findings: Findings) -> bool:
    declared = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ZIP_ENTRIES or declared > MAX_UNCOMPRESSED_BYTES:
        findings.error((), f"The workbook is too large when unpacked ({len(entries)} parts, {declared:,} bytes; "
                       f"at most {MAX_ZIP_ENTRIES} parts and {MAX_UNCOMPRESSED_BYTES:,} bytes); it was refused.")
        return False
    for entry in entries:
        ratio = entry.file_size // max(entry.compress_size, 1)
        if entry.file_size > _RATIO_APPLIES_ABOVE and ratio > MAX_COMPRESSION_RATIO:
            findings.error((), f"The workbook part {echo(entry.filename)} is compressed {ratio} to 1, more than "
                           "any real workbook (a zip bomb); it was refused.")
            return False
    return True


def _read_parts(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> dict[str, bytes]:
    """Read every entry in chunks, which checks its real size and CRC against the directory (a bomb may fake
    them). All are kept: the reader reads a worksheet from whatever part the workbook names, `.xml` or not."""
    parts: dict[str, bytes] = {}
    for entry in entries:
        chunks = []
        with archive.open(entry) as stream:
            while chunk := stream.read(_READ_CHUNK):
                chunks.append(chunk)
        parts[entry.filename] = b"".join(chunks)
    return parts


def _sheet_titles(parts: dict[str, bytes]) -> dict[str, str]:
    """Map each worksheet's part name to its sheet title, from the workbook and its relationships."""
    workbook = parts.get("xl/workbook.xml", b"")
    relations = parts.get("xl/_rels/workbook.xml.rels", b"")
    targets = {}
    for _, attributes in _tags(_markup(relations, "xl/_rels/workbook.xml.rels"), {b"Relationship"}):
        target = attributes.get("Target", "").lstrip("/")  # as calamine resolves it: "/xl/x", "xl/x" or "x"
        targets[attributes.get("Id", "")] = target if target.startswith("xl/") else f"xl/{target}"
    titles = {}
    for _, attributes in _tags(_markup(workbook, "xl/workbook.xml"), {b"sheet"}):
        relation = next((value for key, value in attributes.items() if key.endswith(":id")), "")
        if relation in targets:
            titles[targets[relation]] = attributes.get("name", "")
    return titles


def _tags(data: bytes, names: set[bytes]) -> Iterator[tuple[bytes, dict[str, str]]]:
    """Yield `(name, attributes)` of each start or empty tag named in `names` (attribute values unescaped)."""
    for match in _TAG.finditer(data):
        closing, name, _, _, attributes = match.groups()
        if not closing and name in names:
            yield name, {
                key.decode("utf-8", "replace"): html.unescape((double or single).decode("utf-8", "replace"))
                for key, double, single in _ATTRIBUTE.findall(attributes)
            }


def _markup(data: bytes, title: str) -> bytes:
    """Return the part without comments, CDATA sections and processing instructions (which the reader
    skips too), refusing a document type declaration; linear: each search starts where the last ended."""
    pieces = []
    position = 0
    while (section := _SECTION.search(data, position)) is not None:
        opener = section.group(1)
        if opener == b"!":
            raise _Refused(f"The part '{echo(title)}' holds a document type declaration (<!DOCTYPE or "
                           "<!ENTITY); workbooks never do, so it was refused.", {"sheet": echo(title)})
        end = data.find(_SECTION_ENDS[opener], section.end())
        if end == -1:
            raise _Refused(f"The part '{echo(title)}' has a comment or section that never ends; the workbook is "
                           "damaged.", {"sheet": echo(title)})
        pieces.append(data[position:section.start()])
        position = end + len(_SECTION_ENDS[opener])
    if not pieces:
        return data
    pieces.append(data[position:])
    return b"".join(pieces)


def _scan_sheet(data: bytes, title: str, limits: FormatLimits) -> dict[tuple[int, int], str]:
    """Check the dimension and every cell position of one worksheet; return its formula cells (0-based).

    Every writer gives each cell its reference as the first attribute; then the positions are those
    references, checked in a few passes at C speed. Otherwise (a cell without one, a repeated `r`, a
    formula to collect, or a position over a bound to locate) the tags are read in order.
    """
    bounds = _Bounds(title, limits)
    has_formulas = False
    for match in _FORMULA_OR_DIMENSION_TAG.finditer(data):
        if match.group(1) == b"f":
            has_formulas = True
        else:
            bounds.dimension(_attribute(match.group(2), b"ref", bounds) or b"")
    if not has_formulas:
        cells = _CELL_TAG.findall(data)
        if not cells:
            return {}
        if _explicit_cells_fit(cells, bounds):
            return {}
    return _scan_in_order(data, bounds)


def _explicit_cells_fit(cells: list[tuple[bytes, bytes, bytes]], bounds: _Bounds) -> bool:
    """True when every cell has one valid reference as its first attribute and all fit the bounds.

    Columns of tuples and joined bytes keep the work in C: this runs on every cell of every big pack.
    """
    letters, digits, rests = zip(*cells, strict=True)
    if not all(letters) or not all(digits):
        return False
    # Each rest starts with a space, "/" or nothing (after r="..."), so ">" joins them without making an
    # attribute that is not there.
    if _ANOTHER_R.search(b">".join(rests)):
        return False
    rows = list(map(int, digits))
    columns = [_COLUMNS.get(written) for written in set(letters)]
    if min(rows) < 1 or any(column is None for column in columns):
        return False
    return bounds.fits(max(rows) - 1, max(column for column in columns if column is not None))


def _scan_in_order(data: bytes, bounds: _Bounds) -> dict[tuple[int, int], str]:
    """Read the tags in order, computing positions as calamine (python-calamine 0.9) does: `<row r>` sets
    the row, the end of a row moves to the next one at column A, a cell's `r` sets its position (the last
    `r` wins, so a repeated one is refused) and the next cell without one takes the next column. Empty
    elements (`<c r="B1"/>`) count as a start and an end, as calamine expands them."""
    formulas: dict[tuple[int, int], str] = {}
    row_index = column_index = 0
    farthest_row = farthest_column = -1
    cell: tuple[int, int] | None = None
    for match in _TAG.finditer(data):
        closing, name, letters, digits, attributes = match.groups()
        empty = attributes.endswith(b"/")
        if closing:
            if name == b"row":
                row_index, column_index = row_index + 1, 0
            elif name == b"c":
                cell = None
            continue
        if digits is not None and (_ANOTHER_R.search(attributes) or _ATTRIBUTES.fullmatch(attributes) is None):
            bounds.malformed(attributes)  # calamine refuses broken or repeated attributes too
        if name == b"c":
            if digits is not None:
                cell = bounds.position(letters, digits)
            else:
                reference = _attribute(attributes, b"r", bounds)
                cell = (row_index, column_index) if reference is None else bounds.cell(reference)
            if cell[0] > farthest_row or cell[1] > farthest_column:
                farthest_row, farthest_column = max(farthest_row, cell[0]), max(farthest_column, cell[1])
                bounds.check(cell, (farthest_row, farthest_column))
            column_index = cell[1] + 1
            if empty:
                cell = None
        elif name == b"row":
            number = (letters or b"") + digits if digits is not None else _attribute(attributes, b"r", bounds)
            if number is not None:
                row_index = bounds.row(number)
            if empty:
                row_index, column_index = row_index + 1, 0
        elif name == b"f" and cell is not None:
            end = data.find(b"<", match.end())
            text = b"" if empty or end == -1 else data[match.end():end]
            formula = html.unescape(text.decode("utf-8", "replace"))
            formulas[cell] = f"={formula}" if formula else "=(shared formula)"
    return formulas


def _attribute(attributes: bytes, wanted: bytes, bounds: _Bounds) -> bytes | None:
    """Return one attribute's raw value, reading the attributes in order as the reader does."""
    if not attributes.strip(b" \t\r\n/"):
        return None
    if _ATTRIBUTES.fullmatch(attributes) is None:
        bounds.malformed(attributes)
    values = [double or single for key, double, single in _ATTRIBUTE.findall(attributes) if key == wanted]
    if len(values) > 1:
        bounds.malformed(attributes)  # calamine would take the last one; refuse rather than guess
    return values[0] if values else None


class _Bounds:
    """The grid and the configured bounds of one sheet, and the located refusals when a position is beyond."""

    def __init__(self, title: str, limits: FormatLimits) -> None:
        self.title = title
        self.limits = limits

    def position(self, letters: bytes | None, digits: bytes) -> tuple[int, int]:
        """Return the 0-based (row, column) of a reference already split into letters and digits."""
        column = _COLUMNS.get(letters) if letters else None
        row = int(digits)
        if column is None or not 1 <= row <= GRID_ROWS:
            return self.cell((letters or b"") + digits)
        return row - 1, column

    def malformed(self, attributes: bytes) -> None:
        """Refuse a tag whose attributes the reader would refuse or read differently."""
        raise _Refused(f"The sheet '{echo(self.title)}' has a malformed tag "
                       f"({echo(attributes.decode('utf-8', 'replace'))}); the workbook is damaged.",
                       {"sheet": echo(self.title)})

    def cell(self, reference: bytes) -> tuple[int, int]:
        """Return the 0-based (row, column) of a reference such as `B7`, refusing one outside the grid."""
        match = _CELL_REFERENCE.fullmatch(reference)
        row = int(match.group(2)) if match else 0
        column = _column_number(match.group(1)) if match else 0
        if not match or not 1 <= row <= GRID_ROWS or not 1 <= column <= GRID_COLUMNS:
            raise _Refused(f"The sheet '{echo(self.title)}' has a cell reference "
                           f"'{echo(reference.decode('utf-8', 'replace'))}' that is not a cell of the Excel grid "
                           "(A1 to XFD1048576); the workbook is damaged or was not made by Excel.",
                           {"sheet": echo(self.title)})
        return row - 1, column - 1

    def row(self, number: bytes) -> int:
        """Return the 0-based index of a row number, refusing one outside the grid."""
        if _ROW_NUMBER.fullmatch(number) is None or not 1 <= int(number) <= GRID_ROWS:
            raise _Refused(f"The sheet '{echo(self.title)}' has a row number "
                           f"'{echo(number.decode('utf-8', 'replace'))}' outside the Excel grid (1 to "
                           f"{GRID_ROWS:,}); the workbook is damaged.", {"sheet": echo(self.title)})
        return int(number) - 1

    def fits(self, row: int, column: int) -> bool:
        """True when the rectangle from A1 to (row, column), 0-based, is within the configured bounds."""
        limits = self.limits
        return (row < limits.max_sheet_rows and column < limits.max_sheet_columns
                and (row + 1) * (column + 1) <= limits.max_sheet_cells)

    def check(self, cell: tuple[int, int], extent: tuple[int, int] | None = None) -> None:
        """Refuse a cell beyond the configured rows or columns, or one that makes the sheet's rectangle
        (from A1 to the farthest row and column so far, `extent`) more than the configured cells."""
        rows, columns = (extent or cell)[0] + 1, (extent or cell)[1] + 1
        limits = self.limits
        if cell[0] >= limits.max_sheet_rows or cell[1] >= limits.max_sheet_columns:
            self._too_far(cell, f"at most {limits.max_sheet_rows:,} rows and {limits.max_sheet_columns:,} "
                          f"columns (A1:{column_letters(limits.max_sheet_columns - 1)}{limits.max_sheet_rows})")
        if rows * columns > limits.max_sheet_cells:
            self._too_far(cell, f"at most {limits.max_sheet_cells:,} cells from A1 to the last cell")

    def dimension(self, reference: bytes) -> None:
        """Check the sheet's declared used range (`A1:E3` or `A1`) like its cells."""
        corners = [self.cell(corner) for corner in reference.split(b":", 1)]
        for corner in corners:
            self.check(corner)
        self.check(corners[-1], (max(row for row, _ in corners), max(column for _, column in corners)))

    def _too_far(self, cell: tuple[int, int], bound: str) -> None:
        where = f"{column_letters(cell[1])}{cell[0] + 1}"
        raise _Refused(f"The sheet '{echo(self.title)}' reaches cell {where}; a share pack sheet holds {bound}. "
                       "Delete the rows and columns beyond your data (Ctrl+End shows the last cell) and save "
                       "again.", {"sheet": echo(self.title), "row": cell[0] + 1, "column": column_letters(cell[1])})


class _ColumnNumbers(dict[bytes, int]):
    """0-based column index by letters as written (`b"B"`, `b"b"` → 1), computed once each, within the grid."""

    def __missing__(self, letters: bytes) -> int:
        number = _column_number(letters)
        if not 1 <= number <= GRID_COLUMNS:
            raise KeyError(letters)
        self[letters] = number - 1
        return number - 1

    def get(self, letters: bytes, default: int | None = None) -> int | None:  # type: ignore[override]
        try:
            return self[letters]
        except KeyError:
            return default


_COLUMNS = _ColumnNumbers()


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - ord("A") + 1
    return number


def column_letters(index: int) -> str:
    """Return the letters of a 0-based column index (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
