"""A plan in the words people use: "2 recipients created (acme, globex)", never ``recipient_create=2``.

Works on the stored form of a plan (`Plan.to_dict()`), so the console, the e-mails and the API describe a
pack's changes from the same record with the same sentences. One sentence per kind of change, in the
order the steps carry them out, naming up to a few objects and counting the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NAMES_SHOWN = 5

# (entity, action) → (singular noun, plural noun, verb). A data object's noun is its type (table, view...).
_WORDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("recipient", "create"): ("recipient", "recipients", "created"),
    ("recipient", "update"): ("recipient", "recipients", "changed"),
    ("recipient", "delete"): ("recipient", "recipients", "removed"),
    ("share", "create"): ("share", "shares", "created"),
    ("share", "update"): ("share", "shares", "changed"),
    ("share", "delete"): ("share", "shares", "removed"),
    ("grant", "grant"): ("recipient given access", "recipients given access", ""),
    ("grant", "revoke"): ("access revoked", "accesses revoked", ""),
    ("pipeline", "create"): ("pipeline", "pipelines", "created"),
    ("pipeline", "update"): ("pipeline", "pipelines", "changed"),
    ("pipeline", "replace"): ("pipeline", "pipelines", "re-created"),
    ("pipeline", "delete"): ("pipeline", "pipelines", "removed"),
    ("schedule", "create"): ("schedule", "schedules", "set"),
    ("schedule", "update"): ("schedule", "schedules", "changed"),
    ("schedule", "delete"): ("schedule", "schedules", "removed"),
}
_OBJECT_VERBS = {"add": "added", "remove": "removed"}
_ORDER = ("recipients", "shares", "data_objects", "grants", "pipelines", "schedules")


def plan_sentences(plan: Mapping[str, Any] | None) -> list[str]:
    """Return one sentence per kind of change in a stored plan; [] when it changes nothing."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for key, label in _changes(plan):
        groups.setdefault(key, []).append(label)
    return [_sentence(key, labels) for key, labels in groups.items()]


def plan_counts(plan: Mapping[str, Any] | None) -> str:
    """The plan in one short line of counts, e.g. ``2 recipients created, 5 tables added``; "" for none."""
    counts: dict[tuple[str, str, str], int] = {}
    for sentence_key, _ in _changes(plan):
        singular, plural, verb = sentence_key
        key = (singular, plural, verb.split(" ", 1)[0])  # "added to share x" → "added"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(
        " ".join(part for part in (f"{n} {singular if n == 1 else plural}", verb) if part)
        for (singular, plural, verb), n in counts.items()
    )


def _changes(plan: Mapping[str, Any] | None) -> list[tuple[tuple[str, str, str], str]]:
    """Each change of a stored plan that people are told about, in step order, as (group, label)."""
    steps: Mapping[str, Any] = (plan or {}).get("steps") or {}
    sections = [*(s for s in _ORDER if s in steps), *(s for s in steps if s not in _ORDER)]
    described = (_describe(change) for section in sections for change in steps.get(section) or ())
    return [(key, label) for key, label in described if key is not None]


def _describe(change: Mapping[str, Any]) -> tuple[tuple[str, str, str] | None, str]:
    """The group a change belongs to (noun, plural, verb) and how it is named in its group."""
    entity, action, name = str(change.get("entity")), str(change.get("action")), str(change.get("name"))
    if entity == "data_object" and action in _OBJECT_VERBS:
        values = change.get("new" if action == "add" else "old") or {}
        kind = str(values.get("type") or "TABLE").lower()
        where = "to" if action == "add" else "from"
        return (kind, f"{kind}s", f"{_OBJECT_VERBS[action]} {where} share {change.get('share')}"), name
    words = _WORDS.get((entity, action))
    if words is None:
        return None, name
    if entity == "recipient" and action == "create":
        d2d = (change.get("new") or {}).get("authentication_type") == "DATABRICKS"
        return words, f"{name} ({'D2D' if d2d else 'D2O'})"
    if entity == "grant":
        return words, f"{name} on {change.get('share')}"
    return words, name


def _sentence(key: tuple[str, str, str], labels: list[str]) -> str:
    singular, plural, verb = key
    noun = singular if len(labels) == 1 else plural
    return " ".join(part for part in (f"{len(labels)} {noun}", verb, f"({_names(labels)})") if part)


def _names(labels: Iterable[str]) -> str:
    shown = list(labels)
    if len(shown) <= NAMES_SHOWN:
        return ", ".join(shown)
    return ", ".join(shown[:NAMES_SHOWN]) + f" and {len(shown) - NAMES_SHOWN} more"
