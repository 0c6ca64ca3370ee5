"""Problems found in a share pack file, and where they are.

Readers and the validator speak in paths (`("recipient", 1, "email")`); a `Locator`, made by the reader that
knows the file, turns a path into a place the requestor can find: a YAML line and column, or an Excel sheet,
row and column. Locating happens only for the issues found, so a clean file pays nothing for it.

Whatever a file holds, the answer stays small: at most `MAX_REPORTED_ISSUES` errors and as many warnings
(then one "and N more" entry), every value a message repeats from the file goes through `echo` (at most
`MAX_ECHO_CHARS`, control characters made visible), and no message, path or location is longer than a bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

Path = tuple[str | int, ...]

MAX_REPORTED_ISSUES = 100
MAX_ECHO_CHARS = 200
# Messages are sentences with at most a few echoed values; the bound is the last line of defence.
MAX_MESSAGE_CHARS = 1_000
ELLIPSIS = "…"
# C0 and C1 control characters, DEL and lone surrogates: invisible, unsafe in a terminal, or not UTF-8 at all.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def echo(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """Render a value from the file for a message: at most `limit` characters (then "…"), with control
    characters and lone surrogates written as escapes (`\\x00`), so a message is always printable and storable."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    text = _UNPRINTABLE.sub(_escape, text[:limit])
    return f"{text}{ELLIPSIS}" if cut else text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def format_path(path: Path) -> str:
    """Render a path the way requestors read it: `share[0].data_objects[3].name` ("" for the whole file).

    Keys come from the file, so each is echoed (bounded and printable) like any other value.
    """
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            key = echo(segment)
            text += f".{key}" if text else key
    return text


@dataclass(frozen=True)
class Issue:
    """One error or warning: where (`path`, `location`) and what, in a sentence a requestor understands.

    `location` is `{"line", "column"}` (1-based) for YAML, `{"sheet", "row", "column"}` for Excel, `{}` when
    the problem has no place (e.g. the file is empty).
    """

    path: str
    message: str
    location: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form the API and `sharepack validate --json` print."""
        return {"path": self.path, "message": self.message, "location": dict(self.location)}

    def __str__(self) -> str:
        where = ", ".join(f"{key} {value}" for key, value in self.location.items())
        place = " ".join(part for part in (self.path, f"({where})" if where else "") if part)
        return f"{place}: {self.message}" if place else self.message


class Locator(Protocol):
    """Turns a path into a location in the file it was read from."""

    def locate(self, path: Path) -> dict[str, Any]:
        """Return the location of `path`, or of its nearest located ancestor, or `{}`."""
        ...


class NoLocation:
    """The locator for content that has no usable places (e.g. a file that failed to parse)."""

    def locate(self, path: Path) -> dict[str, Any]:
        """Return `{}`: nothing can be located."""
        return {}


class _Capped:
    """At most `MAX_REPORTED_ISSUES` issues of one kind, and a count of the ones left out."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.kept: list[Issue] = []
        self.left_out = 0
        self.unchecked: dict[str, int] = {}  # section → items not checked once the list was full

    @property
    def full(self) -> bool:
        return len(self.kept) >= MAX_REPORTED_ISSUES

    def issues(self) -> list[Issue]:
        if not self.left_out and not self.unchecked:
            return list(self.kept)
        message = f"… and {self.left_out:,} more {self.kind}s (only the first {MAX_REPORTED_ISSUES} are listed)."
        if self.unchecked:
            skipped = ", ".join(f"{count:,} {section} items" for section, count in self.unchecked.items())
            message = (f"… and more {self.kind}s: checking stopped after the first {MAX_REPORTED_ISSUES} "
                       f"({self.left_out:,} more found, {skipped} not checked).")
        return [*self.kept, Issue(path="", message=message)]


class Findings:
    """Collects errors and warnings in one pass, locating each as it is added (only the ones reported)."""

    def __init__(self, locator: Locator | None = None) -> None:
        self.locator: Locator = locator or NoLocation()
        self._errors = _Capped("error")
        self._warnings = _Capped("warning")

    @property
    def errors(self) -> list[Issue]:
        """The errors reported, then one entry saying how many more were found, if any."""
        return self._errors.issues()

    @property
    def warnings(self) -> list[Issue]:
        """The warnings reported, then one entry saying how many more were found, if any."""
        return self._warnings.issues()

    @property
    def has_errors(self) -> bool:
        return bool(self._errors.kept)

    @property
    def errors_full(self) -> bool:
        """True when further errors are only counted: callers may skip composing their messages."""
        return self._errors.full

    def stop_checking(self, section: str, remaining: int) -> None:
        """Note that `remaining` items of `section` were not checked because the errors are full."""
        self._errors.unchecked[section] = self._errors.unchecked.get(section, 0) + remaining

    def error(self, path: Path, message: str, location: dict[str, Any] | None = None) -> None:
        """Record a problem that makes the pack unusable."""
        self._add(self._errors, path, message, location)

    def warn(self, path: Path, message: str, location: dict[str, Any] | None = None) -> None:
        """Record something the requestor should look at; the pack is still accepted."""
        self._add(self._warnings, path, message, location)

    def _add(self, issues: _Capped, path: Path, message: str, location: dict[str, Any] | None) -> None:
        if issues.full:
            issues.left_out += 1
            return
        where = location if location is not None else self.locator.locate(path)
        issues.kept.append(Issue(
            path=format_path(path),
            message=echo(message, MAX_MESSAGE_CHARS),
            location={key: echo(value) if isinstance(value, str) else value for key, value in where.items()},
        ))
