"""The SQL Statement Execution API (``/api/2.0/sql/statements``), answering the one query we send: daily
list cost per project tag from ``system.billing.usage`` joined with ``system.billing.list_prices``.

Shapes follow https://docs.databricks.com/api/workspace/statementexecution: a statement is PENDING until
read once when sent with ``wait_timeout=0s`` (so a client must poll), an execution failure is HTTP 200 with
``status.state = FAILED``, cells are strings, and results come in chunks of `chunk_rows` rows linked by
``next_chunk_index``. Billing rows are seeded through a hook; the join is computed here in Python, with
the documented semantics (a price applies from ``price_start_time`` until ``price_end_time``, NULL = now).

Parameters are bound as the warehouse binds them (https://docs.databricks.com/api/workspace/statementexecution/
executestatement, ``parameters``; Spark's error conditions for the failures): the text's named ``:name``
markers are parsed (outside string literals, quoted identifiers and comments; ``::`` is a cast), a marker
without a parameter fails the statement with ``UNBOUND_SQL_PARAMETER`` (SQLSTATE 42P02), a value that its
``type`` cannot hold fails it with ``CAST_INVALID_INPUT`` (22018), and the billing window is computed from
the bound values: each ``usage_date <op> :marker`` condition filters the usage rows. A marker the emulator
cannot apply to the billing rows fails the statement rather than being silently ignored.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dev.emulator.errors import ApiError, invalid_parameter
from dev.emulator.routes import Route, Router

STATEMENTS = "/api/2.0/sql/statements"
_TAG = re.compile(r"custom_tags\['([A-Za-z0-9_.-]+)'\]")
_COLUMNS = ("project", "usage_date", "dbus", "list_cost", "currency")
# What a marker cannot be found in: string literals, backquoted identifiers, comments; and `::` casts.
_NOT_MARKERS = re.compile(r"'(?:[^'\\]|\\.|'')*'|`[^`]*`|--[^\n]*|/\*.*?\*/|::", re.DOTALL)
_MARKER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_WINDOW = re.compile(r"\busage_date\s*(>=|<=|<>|!=|=|>|<)\s*:([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            "<": lambda a, b: a < b, "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "!=": lambda a, b: a != b}
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT", "LONG", "SHORT", "BYTE"})
_NUMBER_TYPES = frozenset({"DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC", "DEC"})


class StatementError(Exception):
    """A statement the warehouse runs and fails: ``status.state = FAILED`` with this SQLSTATE and message."""

    def __init__(self, sql_state: str, message: str) -> None:
        super().__init__(message)
        self.sql_state = sql_state


@dataclass
class Statement:
    statement_id: str
    rows: list[list[str | None]] | None
    error: StatementError | None
    polls_until_done: int
    chunk_rows: int


@dataclass
class Billing:
    """Seeded system.billing rows and the statements run against them."""

    usage: list[dict[str, Any]] = field(default_factory=list)
    list_prices: list[dict[str, Any]] = field(default_factory=list)
    chunk_rows: int = 1000
    statements: dict[str, Statement] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.usage, self.list_prices, self.statements, self.chunk_rows = [], [], {}, 1000

    def seed(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add usage and price rows (the columns of https://docs.databricks.com/admin/system-tables/billing.html;
        ``custom_tags`` a mapping); ``chunk_rows`` sets paging."""
        with self.lock:
            self.usage.extend(dict(row) for row in data.get("usage") or ())
            self.list_prices.extend(dict(row) for row in data.get("list_prices") or ())
            if data.get("chunk_rows"):
                self.chunk_rows = int(data["chunk_rows"])
            return {"usage": len(self.usage), "list_prices": len(self.list_prices)}

    # -- the API -------------------------------------------------------------------------------------

    def execute(self, body: Mapping[str, Any]) -> dict[str, Any]:
        text = body.get("statement")
        if not isinstance(text, str) or not text.strip():
            raise invalid_parameter("statement is required")
        if not body.get("warehouse_id"):
            raise invalid_parameter("warehouse_id is required")
        wait = str(body.get("wait_timeout") or "10s")
        if not re.fullmatch(r"0s|([5-9]|[1-4][0-9]|50)s", wait):
            raise invalid_parameter("wait_timeout must be 0s or between 5s and 50s")
        try:
            clean = _NOT_MARKERS.sub(" ", text)  # the text a marker can be in, computed once
            bound = bind_parameters(clean, body.get("parameters"))
            rows, error = self._run(text, clean, bound), None
        except StatementError as failure:
            rows, error = None, failure
        statement = Statement(str(uuid.uuid4()), rows, error, 1 if wait == "0s" else 0, self.chunk_rows)
        with self.lock:
            self.statements[statement.statement_id] = statement
        return self._describe(statement, poll=False)

    def get(self, statement_id: str) -> dict[str, Any]:
        return self._describe(self._statement(statement_id), poll=True)

    def chunk(self, statement_id: str, index: int) -> dict[str, Any]:
        statement = self._statement(statement_id)
        if statement.polls_until_done or statement.rows is None:
            raise ApiError(400, "BAD_REQUEST", f"Statement {statement_id} has no result to read")
        return _chunk(statement, index)

    def _statement(self, statement_id: str) -> Statement:
        with self.lock:
            statement = self.statements.get(statement_id)
        if statement is None:
            raise ApiError(404, "NOT_FOUND", f"The statement {statement_id} was not found")
        return statement

    def _describe(self, statement: Statement, *, poll: bool) -> dict[str, Any]:
        with self.lock:
            if poll and statement.polls_until_done:
                statement.polls_until_done -= 1
                answer: dict[str, Any] = {"statement_id": statement.statement_id, "status": {"state": "RUNNING"}}
                return answer
            if statement.polls_until_done:
                return {"statement_id": statement.statement_id, "status": {"state": "PENDING"}}
        if statement.error is not None:
            return {
                "statement_id": statement.statement_id,
                "status": {"state": "FAILED",
                           "error": {"error_code": "BAD_REQUEST", "message": str(statement.error)},
                           "sql_state": statement.error.sql_state},
            }
        rows = statement.rows or []
        chunks = max(1, -(-len(rows) // statement.chunk_rows))
        return {
            "statement_id": statement.statement_id,
            "status": {"state": "SUCCEEDED"},
            "manifest": {
                "format": "JSON_ARRAY",
                "schema": {"column_count": len(_COLUMNS), "columns": [
                    {"name": name, "position": i, "type_name": "STRING", "type_text": "STRING"}
                    for i, name in enumerate(_COLUMNS)]},
                "total_chunk_count": chunks,
                "total_row_count": len(rows),
                "truncated": False,
            },
            "result": _chunk(statement, 0),
        }

    # -- the query -----------------------------------------------------------------------------------

    def _run(self, text: str, clean: str, bound: Mapping[str, Any]) -> list[list[str | None]]:
        lowered = text.lower()
        if "system.billing.usage" not in lowered or "system.billing.list_prices" not in lowered:
            raise StatementError("42P01", "[TABLE_OR_VIEW_NOT_FOUND] The emulator answers only the billing cost query")
        tag = _TAG.search(text)
        if tag is None:
            raise StatementError(
                "42703", "[UNRESOLVED_COLUMN] the cost query must group by a custom_tags['<tag>'] value")
        window = _window(clean, bound)
        totals: dict[tuple[str, str], list[Decimal | str]] = {}
        with self.lock:
            for usage in self.usage:
                project = (usage.get("custom_tags") or {}).get(tag.group(1))
                if project is None or not all(test(str(usage["usage_date"])[:10]) for test in window):
                    continue
                price = self._price(usage)
                if price is None:
                    continue
                quantity = Decimal(str(usage["usage_quantity"]))
                key = (project, str(usage["usage_date"]))
                entry = totals.setdefault(key, [Decimal(0), Decimal(0), price["currency_code"]])
                entry[0] = Decimal(entry[0]) + quantity
                entry[1] = Decimal(entry[1]) + quantity * Decimal(str(price["pricing"]["effective_list"]["default"]))
        return [[project, day, str(dbus), str(cost), str(currency)]
                for (project, day), (dbus, cost, currency) in sorted(totals.items())]

    def _price(self, usage: Mapping[str, Any]) -> Mapping[str, Any] | None:
        start, end = _time(usage["usage_start_time"]), _time(usage["usage_end_time"])
        for price in self.list_prices:
            same = all(price.get(k) == usage.get(k) for k in ("sku_name", "cloud", "usage_unit"))
            price_end = price.get("price_end_time")
            if same and start >= _time(price["price_start_time"]) and (price_end is None or end <= _time(price_end)):
                return price
        return None


def markers(text: str) -> list[str]:
    """Return the named parameter markers of a statement, in order of first use."""
    return _markers(_NOT_MARKERS.sub(" ", text))


def _markers(clean: str) -> list[str]:
    return list(dict.fromkeys(_MARKER.findall(clean)))


def bind_parameters(clean: str, parameters: Any) -> dict[str, Any]:
    """Return the markers of ``clean`` (a statement without literals and comments) bound to their typed
    values; raise `StatementError` for an unbound marker or a value its type cannot hold, and 400 for a
    malformed ``parameters`` list."""
    if parameters is None:
        parameters = []
    if not isinstance(parameters, list):
        raise invalid_parameter("parameters must be a list")
    given: dict[str, Any] = {}
    for item in parameters:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise invalid_parameter("Each parameter needs a name")
        given[item["name"]] = _typed(item["name"], item.get("value"), str(item.get("type") or "STRING"))
    for name in _markers(clean):
        if name not in given:
            raise StatementError(
                "42P02",
                f"[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {name}. Please, fix `args` and provide a "
                "mapping of the parameter to either a SQL literal or collection constructor functions.",
            )
    return given


def _typed(name: str, value: Any, type_name: str) -> Any:
    """Cast a parameter's string value to its declared type, as the warehouse does (NULL stays NULL)."""
    kind = type_name.strip().upper().split("(")[0]
    if value is None:
        return None
    text = str(value)
    try:
        if kind == "STRING":
            return text
        if kind == "DATE":
            return date.fromisoformat(text.strip())
        if kind in ("TIMESTAMP", "TIMESTAMP_NTZ"):
            return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if kind in _INTEGER_TYPES:
            return int(text.strip())
        if kind in _NUMBER_TYPES:
            return Decimal(text.strip())
        if kind == "BOOLEAN":
            if text.strip().lower() not in ("true", "false"):
                raise ValueError(text)
            return text.strip().lower() == "true"
    except (ValueError, InvalidOperation):
        raise StatementError(
            "22018",
            f"[CAST_INVALID_INPUT] The value '{text}' of the type \"STRING\" cannot be cast to \"{kind}\" "
            f"because it is malformed (parameter :{name}).",
        ) from None
    raise StatementError("0A000", f'[UNSUPPORTED_DATATYPE] Unsupported data type "{type_name}" (parameter :{name}).')


def _window(clean: str, bound: Mapping[str, Any]) -> list[Callable[[str], bool]]:
    """Return the usage-date conditions of the cost query (``clean``: without literals and comments), with
    their bound values applied; each takes a ``YYYY-MM-DD`` day (ISO dates order as their text does)."""
    tests: list[Callable[[str], bool]] = []
    applied: set[str] = set()
    for operator, name in _WINDOW.findall(clean):
        value = bound[name]
        if value is None:
            return [lambda _day: False]  # a comparison with NULL is never true
        limit = _day(value).isoformat()
        compare = _COMPARE[operator]
        tests.append(lambda day, compare=compare, limit=limit: compare(day, limit))
        applied.add(name)
    ignored = [name for name in _markers(clean) if name not in applied]
    if ignored:
        raise StatementError(
            "0A000", f"the emulator computes only usage_date windows; it cannot apply :{', :'.join(ignored)}")
    return tests


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise StatementError(
            "22018", f"[CAST_INVALID_INPUT] The value '{value}' of the type \"STRING\" cannot be cast to \"DATE\" "
            "because it is malformed.") from None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _chunk(statement: Statement, index: int) -> dict[str, Any]:
    rows = statement.rows or []
    size = statement.chunk_rows
    if index < 0 or (index > 0 and index * size >= len(rows)):
        raise ApiError(400, "BAD_REQUEST", f"Chunk {index} does not exist")
    page = rows[index * size:(index + 1) * size]
    answer: dict[str, Any] = {"chunk_index": index, "row_offset": index * size, "row_count": len(page),
                              "data_array": page}
    if (index + 1) * size < len(rows):
        answer["next_chunk_index"] = index + 1
        answer["next_chunk_internal_link"] = (
            f"{STATEMENTS}/{statement.statement_id}/result/chunks/{index + 1}?row_offset={(index + 1) * size}"
        )
    return answer


def router(billing: Billing) -> Router:
    """Return the statement routes bound to one `Billing`."""
    return Router([
        Route("POST", STATEMENTS, lambda c: billing.execute(c.body)),
        Route("GET", f"{STATEMENTS}/{{id}}", lambda c: billing.get(c.params["id"])),
        Route("GET", f"{STATEMENTS}/{{id}}/result/chunks/{{n}}",
              lambda c: billing.chunk(c.params["id"], int(c.params["n"]) if c.params["n"].isdigit() else -1)),
    ])
