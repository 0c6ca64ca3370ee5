"""The emulator's request pipeline and its test hooks, independent of the HTTP server that feeds it.

For ``/api/**`` the order mirrors what a client sees from a real workspace behind a gateway:
latency first (the round trip), then an injected fault (throttling happens before auth), then
authentication, then the Unity Catalog operation; an ``after``-phase fault replaces a reply whose
change already happened. ``/__emulator/**`` hooks skip all of that and are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from dev.emulator import lakeflow, statements, workspace_files
from dev.emulator.auth import DEFAULT_TENANT_ID, AadTokenError, Authenticator
from dev.emulator.errors import ERROR_CODE_STYLES, ApiError, ErrorCodeStyle, invalid_parameter
from dev.emulator.faults import Fault, FaultInjector
from dev.emulator.request_log import RequestLog, redact_headers
from dev.emulator.routes import ROUTER, Call
from dev.emulator.state import Workspace, WorkspaceSettings

log = logging.getLogger(__name__)

HOOKS = "/__emulator"
HOST_METADATA_PATH = "/.well-known/databricks-config"
_AAD_TOKEN_PATH = ("aad", "oauth2", "token")


@dataclass
class Response:
    """What the HTTP layer writes back: a status, a JSON payload (``None``: empty body) and headers."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EmulatorConfig:
    """Run-time knobs; ``reset`` restores the values the emulator started with."""

    latency_ms: int = 0
    error_code_style: ErrorCodeStyle = "specific"
    page_size: int | None = None
    empty_first_page: bool = False
    host_metadata: bool = True


def error_response(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    """Render an error the way Unity Catalog does (error_code, message, RequestInfo detail)."""
    payload = {
        "error_code": error.error_code,
        "message": error.message,
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.RequestInfo",
                "request_id": str(uuid.uuid4()),
                "serving_data": "",
            }
        ],
    }
    return Response(error.status, payload, dict(headers or {}))


class EmulatorApp:
    """One emulated workspace with its auth, faults, latency and request log.

    Args:
        workspace: the model the API operates on.
        authenticator: who may call ``/api/**``.
        config: latency, error-code style and default page size.
        seed_tables: tables (re)created by ``reset``.
    """

    def __init__(
        self,
        *,
        workspace: Workspace,
        authenticator: Authenticator,
        config: EmulatorConfig,
        seed_tables: Sequence[str] = (),
    ) -> None:
        self.workspace = workspace
        self.authenticator = authenticator
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self._initial_config = EmulatorConfig(**vars(config))
        self._config_lock = threading.Lock()
        self.config = config
        self.seed_tables = tuple(seed_tables)
        self.files = workspace_files.WorkspaceFiles()
        self._files_router = workspace_files.router(self.files)
        self.lakeflow = lakeflow.Lakeflow(files=self.files)
        self._lakeflow_router = lakeflow.router(self.lakeflow)
        self.billing = statements.Billing()
        self._statements_router = statements.router(self.billing)
        self._apply_settings()

    # -- pipeline ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Serve one request; never raises."""
        raw_path, _, query_string = target.partition("?")
        if raw_path == HOOKS or raw_path.startswith(f"{HOOKS}/"):
            return self._guard(lambda: self._hook(method, raw_path, query_string, body))
        started = time.time()
        path = unquote(raw_path)
        response = self._guard(lambda: self._serve(method, raw_path, path, query_string, headers, body))
        self.requests.record(
            {
                "method": method,
                "path": path,
                "query": _flatten_query(query_string),
                "body": _json_or_none(headers, body),
                "status": response.status,
                "error_code": response.payload.get("error_code") if isinstance(response.payload, dict) else None,
                "principal": self.authenticator.principal_for(_header(headers, "Authorization")),
                "headers": redact_headers(headers),
                "started_at": started,
                "ended_at": time.time(),
            }
        )
        return response

    @staticmethod
    def _guard(serve: Any) -> Response:
        try:
            return serve()
        except ApiError as exc:
            return error_response(exc)
        except Exception:  # a bug in the emulator must still answer, or the SDK waits for its timeout
            log.exception("emulator.request_failed")
            return error_response(ApiError(500, "INTERNAL_ERROR", "The emulator failed to serve the request"))

    def _serve(
        self,
        method: str,
        raw_path: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        if method == "GET" and path.endswith(HOST_METADATA_PATH):
            return self._host_metadata(path)
        segments = path.strip("/").split("/")
        if method == "GET" and path == "/aad/auth":
            login = f"https://login.microsoftonline.com/{DEFAULT_TENANT_ID}/oauth2/authorize"
            return Response(302, None, {"Location": login})
        if method == "POST" and len(segments) == 4 and (segments[0], *segments[2:]) == _AAD_TOKEN_PATH:
            return self._aad_token(body)
        is_api = path.startswith("/api/")
        if is_api and self.config.latency_ms > 0:
            time.sleep(self.config.latency_ms / 1000)
        fault = self.faults.take(method, path, "before")
        if fault is not None:
            return _fault_response(fault)
        found = (
            ROUTER.match(method, raw_path)
            or self._lakeflow_router.match(method, raw_path)
            or self._statements_router.match(method, raw_path)
            or self._files_router.match(method, raw_path)
        )
        if found is None:
            if is_api:
                self._authenticate(headers)
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        route, params = found
        caller = "anonymous" if route.public else self._authenticate(headers)
        call = Call(
            workspace=self.workspace,
            params=params,
            query=_flatten_query(query_string, first_only=True),
            body=_json_body(body),
            caller=caller,
        )
        payload = route.handler(call)
        fault = self.faults.take(method, path, "after")
        if fault is not None:
            return _fault_response(fault)
        return Response(200, dict(payload))

    def _host_metadata(self, path: str) -> Response:
        """Answer the SDK's unauthenticated host-discovery probe, sent on every ``Config()``.

        databricks-sdk (0.162) reads ``workspace_id`` (then sent as ``X-Databricks-Workspace-Id``) and
        ``cloud`` from it, and logs a warning on each 404 (``Config._resolve_host_metadata``,
        https://github.com/databricks/databricks-sdk-py/pull/1288). No ``oidc_endpoint``: the emulator
        serves no OIDC discovery, and one would redirect the SDK's OAuth flows to it. Never slowed
        or faulted, like the real probe; ``host_metadata=False`` restores the 404 a host without it gives.
        """
        if not self.config.host_metadata:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for 'GET {path}'")
        summary = self.workspace.metastore_assignment()
        cloud = self.workspace.metastore_summary()["cloud"]
        return Response(200, {"workspace_id": str(summary["workspace_id"]), "cloud": cloud.upper()})

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        principal = self.authenticator.principal_for(_header(headers, "Authorization"))
        if principal is None:
            raise ApiError(
                401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API."
            )
        return principal

    def _aad_token(self, body: bytes) -> Response:
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            return Response(200, self.authenticator.issue_aad_token(form))
        except AadTokenError as exc:
            # The SDK reads Content-Type unconditionally on token errors (``databricks/sdk/oauth.py``): always JSON.
            return Response(exc.status, {"error": exc.error, "error_description": exc.description})

    # -- test hooks --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Restore the start-up state: seeded tables only, no faults, empty log, initial knobs."""
        with self._config_lock:
            self.config = EmulatorConfig(**vars(self._initial_config))
            self._apply_settings()
        self.faults.clear()
        self.requests.clear()
        self.workspace.reset(seed_tables=self.seed_tables)
        self.lakeflow.reset()
        self.files.reset()
        self.billing.reset()

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change run-time knobs (``latency_ms``, ``error_code_style``, ``page_size``, ``empty_first_page``,
        ``host_metadata``)."""
        unknown = set(changes) - set(vars(EmulatorConfig()))
        if unknown:
            raise invalid_parameter(f"Unknown config keys: {sorted(unknown)}")
        with self._config_lock:
            updated = {**vars(self.config), **changes}
            if updated["error_code_style"] not in ERROR_CODE_STYLES:
                raise invalid_parameter(f"error_code_style must be one of {ERROR_CODE_STYLES}")
            try:
                updated["latency_ms"] = int(updated["latency_ms"])
                updated["page_size"] = int(updated["page_size"]) if updated["page_size"] else None
            except (TypeError, ValueError) as exc:
                raise invalid_parameter("latency_ms and page_size must be integers") from exc
            if updated["latency_ms"] < 0:
                raise invalid_parameter("latency_ms must be >= 0")
            for flag in ("empty_first_page", "host_metadata"):
                if not isinstance(updated[flag], bool):
                    raise invalid_parameter(f"{flag} must be true or false")
            self.config = EmulatorConfig(**updated)
            self._apply_settings()
            return vars(self.config).copy()

    def _apply_settings(self) -> None:
        self.workspace.settings = WorkspaceSettings(
            error_code_style=self.config.error_code_style,
            page_size=self.config.page_size,
            empty_first_page=self.config.empty_first_page,
        )

    def _hook(self, method: str, raw_path: str, query_string: str, body: bytes) -> Response:
        route = unquote(raw_path.removeprefix(HOOKS)).strip("/")
        data = _json_body(body)
        query = _flatten_query(query_string, first_only=True)
        if (method, route) == ("GET", "health"):
            return Response(200, {"status": "ok"})
        if (method, route) == ("GET", "state"):
            return Response(200, {**self.workspace.snapshot(), "config": vars(self.config).copy()})
        if (method, route) == ("POST", "reset"):
            self.reset()
            return Response(200, {})
        if (method, route) == ("POST", "tables"):
            return Response(200, {"tables": self.workspace.seed_tables(_table_specs(data))})
        if method == "DELETE" and route.startswith("tables/"):
            self.workspace.drop_table(route.removeprefix("tables/"))
            return Response(200, {})
        if (method, route) == ("POST", "billing"):
            return Response(200, self.billing.seed(data))
        if route.startswith("lakeflow/"):
            return Response(200, lakeflow.hook(self.lakeflow, method, route.removeprefix("lakeflow/"), data))
        if (method, route) == ("GET", "requests"):
            entries = self.requests.entries(method=query.get("method"), path_contains=query.get("path_contains"))
            return Response(200, {"requests": entries})
        if (method, route) == ("DELETE", "requests"):
            self.requests.clear()
            return Response(200, {})
        if (method, route) == ("POST", "faults"):
            return Response(200, {"fault": self.faults.add(Fault.from_payload(data)).describe()})
        if (method, route) == ("GET", "faults"):
            return Response(200, {"faults": self.faults.describe()})
        if (method, route) == ("DELETE", "faults"):
            self.faults.clear()
            return Response(200, {})
        if (method, route) == ("GET", "config"):
            return Response(200, vars(self.config).copy())
        if method in ("POST", "PATCH") and route == "config":
            return Response(200, self.configure(data))
        if method in ("POST", "PATCH") and route == "metastore":
            return Response(200, self.workspace.update_metastore(data))
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No emulator hook for '{method} {raw_path}'")


def _table_specs(data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Expand ``{"tables": [name | {full_name, ...}], "table_type"?, "owner_lacks_select"?}``."""
    tables = data.get("tables")
    if not isinstance(tables, list):
        raise invalid_parameter('Expected {"tables": ["catalog.schema.table", ...]}')
    defaults = {key: data[key] for key in ("table_type", "owner_lacks_select") if key in data}
    return [{**defaults, "full_name": t} if isinstance(t, str) else {**defaults, **t} for t in tables]


def _fault_response(fault: Fault) -> Response:
    error = ApiError(fault.status, fault.error_code or "", fault.message or f"Injected fault {fault.id}")
    response = error_response(error)
    if fault.error_code is None:
        response.payload.pop("error_code")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _flatten_query(query_string: str, *, first_only: bool = False) -> dict[str, Any]:
    parsed = parse_qs(query_string, keep_blank_values=True)
    return {key: values[0] if first_only or len(values) == 1 else values for key, values in parsed.items()}


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object")
    return data


def _json_or_none(headers: Mapping[str, str], body: bytes) -> Any:
    """Return a JSON body for the log; form bodies (AAD secrets) and non-JSON bodies are not kept."""
    if not body or "json" not in (_header(headers, "Content-Type") or "json"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
