"""OData query options the emulator understands: ``$select`` and a subset of ``$filter``.

``$filter`` takes ``eq``, ``in``, ``startswith``, joined by ``and``/``or`` (``and`` binds tighter, no
parentheses), which is what the directory supports by default. ``endswith`` and ``ne`` are advanced
queries: Graph answers them only with ``ConsistencyLevel: eventual`` and ``$count=true``
(graph/aad-advanced-queries); without both they are refused here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_STRING = re.compile(r"'((?:[^']|'')*)'")
_CLAUSES = [
    (re.compile(r"^(\w+) eq (\S+)$", re.I), "eq"),
    (re.compile(r"^(\w+) ne (\S+)$", re.I), "ne"),
    (re.compile(r"^(\w+) in \(([^)]*)\)$", re.I), "in"),
    (re.compile(r"^startswith\((\w+),\s*(\S+)\)$", re.I), "startswith"),
    (re.compile(r"^endswith\((\w+),\s*(\S+)\)$", re.I), "endswith"),
]
ADVANCED = frozenset({"ne", "endswith"})


class QueryError(ValueError):
    """A query option Graph would refuse; ``code`` is Graph's error code."""

    def __init__(self, message: str, code: str = "Request_UnsupportedQuery") -> None:
        super().__init__(message)
        self.code = code


def parse_select(value: str | None, allowed: Sequence[str], default: Sequence[str]) -> tuple[str, ...]:
    """The properties to return: ``id`` always, then the selected ones in the order asked."""
    if not value:
        return tuple(default)
    names = [name.strip() for name in value.split(",") if name.strip()]
    lowered = {p.lower(): p for p in allowed}
    chosen = ["id"]
    for name in names:
        prop = lowered.get(name.lower())
        if prop is None:
            raise QueryError(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
                             "Request_BadRequest")
        if prop not in chosen:
            chosen.append(prop)
    return tuple(chosen)


def parse_filter(expression: str, properties: Sequence[str], *, advanced_allowed: bool) -> Predicate:
    """Compile ``expression`` to a predicate over an object's JSON, case-insensitive on strings."""
    literals: list[str] = []

    def stash(match: re.Match[str]) -> str:
        literals.append(match.group(1).replace("''", "'"))
        return f"\x00{len(literals) - 1}\x00"

    masked = _STRING.sub(stash, expression.strip())
    lowered_props = {p.lower(): p for p in properties}

    def value_of(token: str) -> Any:
        token = token.strip()
        if token.startswith("\x00"):
            return literals[int(token.strip("\x00"))]
        if token.lower() in ("true", "false"):
            return token.lower() == "true"
        if token.lower() == "null":
            return None
        raise QueryError(f"Invalid filter clause: unsupported literal {token!r}", "BadRequest")

    def clause(text: str) -> Predicate:
        for pattern, op in _CLAUSES:
            match = pattern.match(text.strip())
            if not match:
                continue
            if op in ADVANCED and not advanced_allowed:
                raise QueryError(f"Operator '{op}' is not supported because the required parameters might be missing. "
                                 "Try adding $count=true and ConsistencyLevel:eventual header.")
            prop = lowered_props.get(match.group(1).lower())
            if prop is None:
                raise QueryError(f"Unsupported or invalid query filter clause specified for property "
                                 f"'{match.group(1)}'.")
            if op == "in":
                wanted = {_norm(value_of(v)) for v in match.group(2).split(",") if v.strip()}
                return lambda obj, p=prop, w=wanted: _norm(obj.get(p)) in w
            target = _norm(value_of(match.group(2)))
            if op == "eq":
                return lambda obj, p=prop, t=target: _norm(obj.get(p)) == t
            if op == "ne":
                return lambda obj, p=prop, t=target: _norm(obj.get(p)) != t
            if op == "startswith":
                return lambda obj, p=prop, t=target: str(_norm(obj.get(p)) or "").startswith(str(t))
            return lambda obj, p=prop, t=target: str(_norm(obj.get(p)) or "").endswith(str(t))
        raise QueryError(f"Invalid filter clause: {text.strip()!r}", "BadRequest")

    bare = re.sub(r"(startswith|endswith)\([^)]*\)|\bin\s*\([^)]*\)", "", masked, flags=re.I)
    if "(" in bare or ")" in bare:
        raise QueryError("Parenthesised $filter expressions are not supported by the emulator", "BadRequest")
    alternatives = [
        [clause(part) for part in re.split(r"\s+and\s+", branch, flags=re.I)]
        for branch in re.split(r"\s+or\s+", masked, flags=re.I)
    ]
    return lambda obj: any(all(test(obj) for test in branch) for branch in alternatives)


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
