"""Pure helpers that turn what the use cases return into what the console's templates show."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from shared.provisioning.plan import sections_in_order
from shared.provisioning.steps import TOTAL_STEPS
from shared.share_pack_file import Issue, SharePackSpec, Strategy, to_yaml

_STEP = re.compile(r"Step (\d+)/(\d+)")
# Statuses after which nothing changes by itself (PENDING_APPROVAL waits for a person: keep watching).
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "DECLINED"})


@dataclass
class SourceLine:
    """One line of an uploaded text file, with the issues found on it."""

    number: int
    text: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def source_lines(text: str, errors: list[Issue], warnings: list[Issue]) -> list[SourceLine]:
    """The file's lines, each carrying the messages of the issues located on it."""
    lines = [SourceLine(number, line) for number, line in enumerate(text.splitlines(), start=1)]
    for issues, attribute in ((errors, "errors"), (warnings, "warnings")):
        for issue in issues:
            line = issue.location.get("line")
            if isinstance(line, int) and 1 <= line <= len(lines):
                getattr(lines[line - 1], attribute).append(issue.message)
    return lines


def describe_location(issue: Issue) -> str:
    """Where an issue is, in words: `line 7, column 3` or `sheet Recipients, row 4, column B`."""
    location = issue.location
    if "sheet" in location:
        parts = [f"sheet {location['sheet']}"]
        parts += [f"{key} {location[key]}" for key in ("row", "column") if key in location]
        return ", ".join(parts)
    return ", ".join(f"{key} {location[key]}" for key in ("line", "column") if key in location)


@dataclass(frozen=True)
class PlanRow:
    """One change of a plan, as the console lists it: a symbol, the kind of change and a sentence."""

    section: str
    kind: str  # "create", "change" or "remove"
    symbol: str
    text: str


_KIND_BY_ACTION = {
    "create": "create", "add": "create", "grant": "create",
    "update": "change", "replace": "change",  # a replacement deletes and re-creates one object
    "delete": "remove", "remove": "remove", "revoke": "remove",
}
_SYMBOL_BY_KIND = {"create": "+", "change": "~", "remove": "\N{MINUS SIGN}"}


def plan_rows(plan: dict[str, Any] | None) -> list[PlanRow]:
    """A stored or previewed plan (`Plan.to_dict()`) as rows, in the order the steps carry them out."""
    rows: list[PlanRow] = []
    steps = (plan or {}).get("steps") or {}
    try:
        order = [str(section) for section in sections_in_order(Strategy(plan["strategy"]))]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        order = []
    # A stored plan is JSONB, which does not keep key order: put the steps back in the order they run.
    for section in [*order, *(name for name in steps if name not in order)]:
        for change in steps.get(section) or ():
            kind = _KIND_BY_ACTION.get(str(change.get("action")), "change")
            rows.append(PlanRow(section, kind, _SYMBOL_BY_KIND[kind], _describe_change(change)))
    return rows


def _describe_change(change: dict[str, Any]) -> str:
    entity, action, name, share = change.get("entity"), change.get("action"), change.get("name"), change.get("share")
    if entity == "grant":
        return f"{action} SELECT on share {share} for recipient {name}"
    text = f"{action} {entity} {name}" + (f" in share {share}" if share else "")
    old, new = change.get("old") or {}, change.get("new") or {}
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    if old and new and changed:
        text += ": " + "; ".join(f"{key} {old.get(key)!r} → {new.get(key)!r}" for key in changed)
    return text


@dataclass(frozen=True)
class Progress:
    """A pack's progress as the console's live view shows it."""

    status: str
    provisioning_status: str
    step: int
    total: int
    error_message: str | None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "provisioning_status": self.provisioning_status,
            "step": self.step,
            "total": self.total,
            "error_message": self.error_message,
            "final": self.is_final,
        }


def progress(status: str, provisioning_status: str | None, error_message: str | None) -> Progress:
    """Read "Step k/8" out of the provisioning status (0 before the first step)."""
    match = _STEP.search(provisioning_status or "")
    step, total = (int(match.group(1)), int(match.group(2))) if match else (0, TOTAL_STEPS)
    return Progress(status, provisioning_status or "", step, total, error_message)


@dataclass(frozen=True)
class ConfigSummary:
    """What an approver reads first: who receives what."""

    recipients: list[str]
    shares: list[str]


def config_summary(config: dict[str, Any] | None) -> ConfigSummary:
    config = config or {}
    recipients = [
        f"{r.get('name')} ({r.get('type')}{', ' + r['email'] if r.get('email') else ''})"
        for r in config.get("recipient") or config.get("recipients") or []
        if isinstance(r, dict)
    ]
    shares = [
        f"{s.get('name')}: {len(s.get('data_objects') or [])} objects for {', '.join(s.get('recipients') or [])}"
        for s in config.get("share") or config.get("shares") or []
        if isinstance(s, dict)
    ]
    return ConfigSummary(recipients, shares)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "context" or "hunk"
    text: str


def config_text(config: dict[str, Any]) -> str:
    """A stored configuration as the YAML a requestor writes (JSON when it is not a valid pack any more)."""
    try:
        return to_yaml(SharePackSpec.from_dict(config))
    except (KeyError, TypeError, ValueError):
        return json.dumps(config, indent=2, sort_keys=True, default=str)


def version_text(version: dict[str, Any]) -> str:
    """What two versions are compared on: their status fields, then their configuration."""
    head = [f"{key}: {version.get(key)}" for key in ("share_pack_status", "provisioning_status", "error_message")]
    return "\n".join(head) + "\n---\n" + config_text(version.get("config") or {})


def diff_lines(before: str, after: str) -> list[DiffLine]:
    """A unified diff of two texts, line by line, with every line kept as context."""
    lines: list[DiffLine] = []
    for raw in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=10_000):
        if raw.startswith(("---", "+++")):
            continue
        if raw.startswith("@@"):
            lines.append(DiffLine("hunk", raw))
        elif raw.startswith("+"):
            lines.append(DiffLine("add", raw[1:]))
        elif raw.startswith("-"):
            lines.append(DiffLine("remove", raw[1:]))
        else:
            lines.append(DiffLine("context", raw[1:]))
    return lines
