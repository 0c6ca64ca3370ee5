"""The bounds a share pack file must stay within, beyond its size in bytes; the service sets them from its
settings (`max_comment_chars`, `max_sheet_rows`, `max_sheet_columns`, `max_sheet_cells`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.share_pack_file.schema import DEFAULT_MAX_COMMENT_CHARS


@dataclass(frozen=True)
class FormatLimits:
    """What one file may hold. The sheet bounds apply to every worksheet before the Excel reader reads it:
    the reader allocates the whole rectangle from A1 to the last cell, so one far cell would cost gigabytes.
    A rectangle of a million cells costs about a second and 50 MB; the design-scale pack's largest sheet
    (20,000 data objects) is 100,000 cells."""

    max_comment_chars: int = DEFAULT_MAX_COMMENT_CHARS
    max_sheet_rows: int = 100_000
    max_sheet_columns: int = 100
    max_sheet_cells: int = 1_000_000
