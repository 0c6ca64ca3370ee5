"""The SQL Statement Execution API (``/api/2.0/sql/statements``), answering the one query we send: daily
list cost per project tag from ``system.billing.usage`` joined with ``system.billing.list_prices``.

Shapes follow https://docs.databricks.com/api/workspace/statementexecution: a statement is PENDING until
read once when sent with ``wait_timeout=0s`` (so a client must poll), an execution failure is HTTP 200 with
``status.state = FAILED``, cells are strings, and results come in chunks of `chunk_rows` rows linked by
``next_chunk_index``. Billing rows are seeded through a hook; the join is computed here in Python, with
the documented semantics (a price applies from ``price_start_time`` until ``price_end_time``, NULL = now).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from emulator.errors import ApiError, invalid_parameter
from emulator.routes import Route, Router

STATEMENTS = "/api/2.0/sql/statements"
_TAG = re.compile(r"custom_tags\['([A-Za-z0-9_.-]+)'\]")
_COLUMNS = ("project", "usage_date", "dbus", "list_cost", "currency")


@dataclass
class Statement:
    statement_id: str
    rows: list[list[str | None]] | None
    error: str | None
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
        """Add usage and price rows (the §8 columns; ``custom_tags`` a mapping); ``chunk_rows`` sets paging."""
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
        rows, error = self._run(text)
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
                "status": {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": statement.error},
                           "sql_state": "42000"},
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

    def _run(self, text: str) -> tuple[list[list[str | None]] | None, str | None]:
        lowered = text.lower()
        if "system.billing.usage" not in lowered or "system.billing.list_prices" not in lowered:
            return None, "[TABLE_OR_VIEW_NOT_FOUND] The emulator answers only the billing cost query"
        tag = _TAG.search(text)
        if tag is None:
            return None, "[UNRESOLVED_COLUMN] the cost query must group by a custom_tags['<tag>'] value"
        totals: dict[tuple[str, str], list[Decimal | str]] = {}
        with self.lock:
            for usage in self.usage:
                project = (usage.get("custom_tags") or {}).get(tag.group(1))
                if project is None:
                    continue
                price = self._price(usage)
                if price is None:
                    continue
                quantity = Decimal(str(usage["usage_quantity"]))
                key = (project, str(usage["usage_date"]))
                entry = totals.setdefault(key, [Decimal(0), Decimal(0), price["currency_code"]])
                entry[0] = Decimal(entry[0]) + quantity
                entry[1] = Decimal(entry[1]) + quantity * Decimal(str(price["pricing"]["effective_list"]["default"]))
        rows = [[project, day, str(dbus), str(cost), str(currency)]
                for (project, day), (dbus, cost, currency) in sorted(totals.items())]
        return rows, None

    def _price(self, usage: Mapping[str, Any]) -> Mapping[str, Any] | None:
        start, end = _time(usage["usage_start_time"]), _time(usage["usage_end_time"])
        for price in self.list_prices:
            same = all(price.get(k) == usage.get(k) for k in ("sku_name", "cloud", "usage_unit"))
            price_end = price.get("price_end_time")
            if same and start >= _time(price["price_start_time"]) and (price_end is None or end <= _time(price_end)):
                return price
        return None


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
