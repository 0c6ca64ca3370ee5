"""The one entry point the API and the CLI call: bytes and a file name in, a validated share pack out.

`parse_share_pack` raises only for uploads that are not a share pack file at all (too large, or neither YAML
text nor an .xlsx workbook, judged by content); everything else a requestor can fix is an `Issue`, never an
exception.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath

from shared.platform.errors import PayloadTooLarge, UnsupportedMediaType
from shared.share_pack_file.issues import Findings, Issue
from shared.share_pack_file.limits import FormatLimits
from shared.share_pack_file.model import SharePackSpec
from shared.share_pack_file.parse_excel import read_excel
from shared.share_pack_file.parse_yaml import read_yaml
from shared.share_pack_file.validate import validate_share_pack

__all__ = ["DEFAULT_MAX_BYTES", "FormatLimits", "Issue", "ParsedSharePack", "detect_format", "parse_share_pack"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
YAML_SUFFIXES = frozenset({".yaml", ".yml", ""})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"%PDF", b"\xff\xd8\xff", b"\x1f\x8b", b"BM", b"7z\xbc\xaf", b"Rar!")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class ParsedSharePack:
    """The outcome of reading one file: the pack (None when there are errors) and every issue found."""

    spec: SharePackSpec | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    file_format: str = "yaml"

    @property
    def is_valid(self) -> bool:
        """True when the pack has no errors (warnings do not count)."""
        return self.spec is not None and not self.errors


def parse_share_pack(
    content: bytes, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES, limits: FormatLimits | None = None
) -> ParsedSharePack:
    """Read, check and normalise a share pack file (YAML or .xlsx), within `limits` (defaults if None).

    Raises:
        PayloadTooLarge: `content` is over `max_bytes` (checked before anything is parsed).
        UnsupportedMediaType: the content is neither YAML text nor an Excel workbook.
    """
    if len(content) > max_bytes:
        raise PayloadTooLarge(
            f"The file is {len(content):,} bytes; share packs may be at most {max_bytes:,} bytes."
        )
    file_format = detect_format(content, filename)
    limits = limits or FormatLimits()
    findings = Findings()
    with _collector_pause.around(len(content)):
        if not content.strip():
            findings.error((), "The file is empty: a share pack needs metadata, recipient and share.")
            document = None
        elif file_format == "xlsx":
            document = read_excel(content, findings, limits=limits)
        else:
            document = read_yaml(content, findings)
        share_pack = validate_share_pack(document, findings, limits) if document is not None else None
    return ParsedSharePack(
        spec=share_pack if not findings.has_errors else None,
        errors=findings.errors,
        warnings=findings.warnings,
        file_format=file_format,
    )


def detect_format(content: bytes, filename: str) -> str:
    """Return "xlsx" or "yaml" from the content (and the name where content cannot tell).

    Raises:
        UnsupportedMediaType: binary content that is not a zip, or text under a name that is not YAML.
    """
    suffix = PurePath(filename or "").suffix.lower()
    if content.startswith(_ZIP_MAGIC) or suffix in EXCEL_SUFFIXES:
        # A file named .xlsx that is not a zip is read as a damaged workbook: the reader says why.
        return "xlsx"
    if content.startswith(_OLD_EXCEL_MAGIC):
        raise UnsupportedMediaType(
            "This is an old .xls workbook (or a password-protected one); save it as .xlsx without a password."
        )
    if content.startswith(_BINARY_MAGIC) or (b"\x00" in content[:8192] and not content.startswith(_UTF16_BOMS)):
        raise UnsupportedMediaType("The file is neither YAML text nor an Excel (.xlsx) workbook.")
    if suffix not in YAML_SUFFIXES:
        raise UnsupportedMediaType(
            f"Share packs are YAML (.yaml, .yml) or Excel (.xlsx) files, not '{suffix}' files."
        )
    return "yaml"


class _CollectorPause:
    """Pause the cyclic garbage collector while big packs are parsed, safely across threads.

    Parsing a big pack builds hundreds of thousands of small, acyclic dicts and lists; the collector would
    otherwise rescan them again and again (about 45% of YAML parse time on a big pack). Reference counting
    still frees everything. The collector is process-wide and the API parses in several threads at once,
    so pauses are counted: the first parse in pauses it, the last one out restores it. Small packs gain
    nothing from a pause and do not take one.
    """

    MIN_BYTES = 256 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._was_enabled = False

    @contextmanager
    def around(self, size: int) -> Iterator[None]:
        if size < self.MIN_BYTES:
            yield
            return
        with self._lock:
            if self._active == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._was_enabled:
                    gc.enable()


_collector_pause = _CollectorPause()
