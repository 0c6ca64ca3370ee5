"""A typed client of the emulator's ``/__emulator`` test hooks, for tests, benchmarks and scripts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from dev.devserver.control import ControlClient, ControlError

TableSpec = str | Mapping[str, Any]


class EmulatorControlError(ControlError):
    """A hook call the emulator refused (bad payload, unknown table...)."""


class EmulatorControl(ControlClient):
    """Drive one emulator: seed tables, reset, read the request log, inject faults and latency.

    Args:
        url: the emulator's base URL, e.g. ``http://127.0.0.1:8001``.
        timeout: seconds to wait for a hook call.
    """

    hooks = "/__emulator"
    error = EmulatorControlError

    def seed_tables(
        self,
        tables: Iterable[TableSpec],
        *,
        table_type: str | None = None,
        owner_lacks_select: bool | None = None,
    ) -> list[str]:
        """Create tables (names or ``{"full_name", "table_type", "owner_lacks_select"}``); return their names.

        ``owner_lacks_select=True`` makes adding the table to a share fail with 403 PERMISSION_DENIED.
        """
        payload: dict[str, Any] = {"tables": list(tables)}
        if table_type is not None:
            payload["table_type"] = table_type
        if owner_lacks_select is not None:
            payload["owner_lacks_select"] = owner_lacks_select
        return list(self._call("POST", "tables", payload)["tables"])

    def drop_table(self, full_name: str) -> None:
        """Drop a table (shares holding it keep a dangling object)."""
        self._call("DELETE", f"tables/{quote(full_name, safe='')}")

    def reset(self) -> None:
        """Restore the start-up state: seeded tables only, no faults, empty log, initial latency."""
        self._call("POST", "reset", {})

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        """Return the logged API requests (method, path, query, body, status, error_code, principal,
        headers with secrets redacted, started_at/ended_at epoch seconds), oldest first."""
        query = urlencode({k: v for k, v in {"method": method, "path_contains": path_contains}.items() if v})
        return list(self._call("GET", f"requests?{query}" if query else "requests")["requests"])

    def inject_fault(
        self,
        *,
        path_regex: str = ".*",
        status: int,
        method: str | None = None,
        error_code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
    ) -> dict[str, Any]:
        """Make the next ``times`` requests matching ``method`` and ``path_regex`` (``re.search`` on the
        decoded path) fail with ``status``/``error_code``/``message`` and optional ``Retry-After``.

        ``times=None`` fails until :meth:`clear_faults`. :meth:`lose_replies` fails the reply instead.
        """
        return self._add_fault(locals(), phase="before")

    def lose_replies(
        self,
        *,
        path_regex: str = ".*",
        status: int,
        method: str | None = None,
        error_code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
    ) -> dict[str, Any]:
        """As :meth:`inject_fault`, but each matching request takes effect first and only its reply fails:
        how a lost response looks to a client (the change happened, the caller does not know)."""
        return self._add_fault(locals(), phase="after")

    def _add_fault(self, arguments: dict[str, Any], *, phase: str) -> dict[str, Any]:
        payload = {name: value for name, value in arguments.items() if name != "self"}
        return dict(self._call("POST", "faults", {**payload, "phase": phase})["fault"])

    def faults(self) -> list[dict[str, Any]]:
        """Return the injected faults with their ``hits``."""
        return list(self._call("GET", "faults")["faults"])

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._call("DELETE", "faults")

    def set_latency(self, ms: int) -> None:
        """Add ``ms`` milliseconds to every ``/api`` call from now on."""
        self.configure(latency_ms=ms)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change ``latency_ms``, ``error_code_style`` (specific/canonical), ``page_size`` (what
        ``max_results=0`` gets), ``empty_first_page`` (lists start with an empty page that carries a
        token) or ``host_metadata`` (False: ``/.well-known/databricks-config`` answers 404)."""
        return dict(self._call("POST", "config", changes))

    def update_metastore(self, **changes: Any) -> dict[str, Any]:
        """Change metastore attributes (e.g. ``delta_sharing_scope="INTERNAL"``); return the summary."""
        return dict(self._call("POST", "metastore", changes))

    def state(self) -> dict[str, Any]:
        """Return the whole workspace state (tables, recipients, shares, grants, metastore, config)."""
        return dict(self._call("GET", "state"))

    def lakeflow_state(self) -> dict[str, Any]:
        """Return the emulated pipelines and jobs (``{"pipelines": [...], "jobs": [...]}``)."""
        return dict(self._call("GET", "lakeflow/state"))

    def add_run(
        self,
        job_id: int | str,
        *,
        result: str | None = "SUCCESS",
        duration_s: float = 0,
        message: str = "",
        started_s_ago: float = 0,
    ) -> int:
        """Add a run to a job as if its schedule fired; it ends with ``result`` after ``duration_s``
        seconds (``result=None``: it runs until `finish_run`). Return its run id."""
        payload = {"job_id": int(job_id), "result": result, "duration_s": duration_s, "message": message,
                   "started_s_ago": started_s_ago}
        return int(self._call("POST", "lakeflow/runs", payload)["run_id"])

    def finish_run(self, run_id: int, *, result: str = "SUCCESS", message: str = "") -> dict[str, Any]:
        """End a running run now with ``result`` (SUCCESS, FAILED, TIMEDOUT, CANCELED)."""
        return dict(self._call("POST", f"lakeflow/runs/{run_id}/finish", {"result": result, "message": message}))

    def seed_billing(
        self,
        *,
        usage: list[dict[str, Any]] = (),  # type: ignore[assignment]
        list_prices: list[dict[str, Any]] = (),  # type: ignore[assignment]
        chunk_rows: int | None = None,
    ) -> dict[str, Any]:
        """Add ``system.billing.usage`` and ``list_prices`` rows; ``chunk_rows`` pages statement results."""
        payload: dict[str, Any] = {"usage": list(usage), "list_prices": list(list_prices)}
        if chunk_rows:
            payload["chunk_rows"] = chunk_rows
        return dict(self._call("POST", "billing", payload))
