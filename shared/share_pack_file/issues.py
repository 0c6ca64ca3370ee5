"""Problems found in a share pack file, and where they are.

Readers and the validator speak in paths (`("recipient", 1, "email")`); a `Locator`, made by the reader that
knows the file, turns a path into a place the requestor can find: a YAML line and column, or an Excel sheet,
row and column. Locating happens only for the issues found, so a clean file pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a path the way requestors read it: `share[0].data_objects[3].name` ("" for the whole file)."""
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
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


class Findings:
    """Collects errors and warnings in one pass, locating each as it is added."""

    def __init__(self, locator: Locator | None = None) -> None:
        self.locator: Locator = locator or NoLocation()
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, path: Path, message: str, location: dict[str, Any] | None = None) -> None:
        """Record a problem that makes the pack unusable."""
        self.errors.append(self._issue(path, message, location))

    def warn(self, path: Path, message: str, location: dict[str, Any] | None = None) -> None:
        """Record something the requestor should look at; the pack is still accepted."""
        self.warnings.append(self._issue(path, message, location))

    def _issue(self, path: Path, message: str, location: dict[str, Any] | None) -> Issue:
        where = location if location is not None else self.locator.locate(path)
        return Issue(path=format_path(path), message=message, location=where)
