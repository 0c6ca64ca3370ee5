"""What the OpenAPI document promises about every operation, and the response headers that keep the promise.

A generated client names its methods by `operationId`, so each operation has a stable verb-noun one (the
table below; a route added without one gets a name derived from its method and path, and
`tests/unit/api/test_openapi_document.py` asks for an entry). The same rules decide headers in the document
and on the wire, so they cannot disagree:

* a 202 says where to follow the accepted work: `Location` (RFC 9110, section 10.2.2), set by the route that
  accepts it (`api.routes.share_packs.accepted`, the sync route);
* a 429 or 503 says when to try again: `Retry-After` (RFC 9110, section 10.2.3; RFC 6585, section 4);
* a 405 lists the methods the path has: `Allow` (RFC 9110, section 15.5.6), set by `api.errors`.
"""

from __future__ import annotations

import re
import threading
from http import HTTPStatus
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Response
from flask_smorest import Api, Blueprint
from flask_smorest.spec import openapi_cli
from flask_smorest.utils import prepare_response

from api.schemas import ErrorSchema

# Seconds a client waits before retrying a 503 whose cause gives no better estimate (a database or a
# workspace that did not answer); a 429 carries its own limit's window.
DEFAULT_RETRY_AFTER_SECONDS = 30

OPERATION_IDS: dict[tuple[str, str], str] = {
    ("get", "/workflow/health"): "getHealth",
    ("get", "/workflow/health/ready"): "getReadiness",
    ("get", "/workflow/health/live"): "getLiveness",
    ("post", "/workflow/sharepack/upload"): "uploadSharePack",
    ("get", "/workflow/sharepack/{share_pack_id}"): "getSharePack",
    ("get", "/workflow/sharepack/{share_pack_id}/history"): "getSharePackHistory",
    ("get", "/workflow/sharepack/{share_pack_id}/plan"): "getSharePackPlan",
    ("get", "/workflow/sharepacks"): "listSharePacks",
    ("post", "/workflow/sharepack/{share_pack_id}/retry"): "retrySharePack",
    ("post", "/workflow/sharepack/{share_pack_id}/rollback"): "rollbackSharePack",
    ("post", "/workflow/sharepack/{share_pack_id}/upload"): "reviseSharePack",
    ("post", "/workflow/sharepack/validate"): "validateSharePack",
    ("get", "/workflow/sharepack/{share_pack_id}/drift"): "getSharePackDrift",
    ("get", "/workflow/drift"): "listDrift",
    ("post", "/workflow/sharepack/{share_pack_id}/reconcile"): "reconcileSharePack",
    ("get", "/workflow/sync/jobs"): "listSyncJobs",
    ("post", "/workflow/sync/jobs/{sync_type}/run"): "runSyncJob",
    ("get", "/workflow/sync/notifications/{notification_id}"): "getNotification",
    ("post", "/workflow/recipients/{name}/rotate-token"): "rotateRecipientToken",
    ("post", "/workflow/sharepack/{share_pack_id}/approve"): "approveSharePack",
    ("post", "/workflow/sharepack/{share_pack_id}/decline"): "declineSharePack",
    ("put", "/workflow/groups/{group_name}"): "putGroup",
    ("get", "/workflow/tenants"): "listTenants",
    ("put", "/workflow/tenants/{business_line}"): "putTenant",
    ("put", "/workflow/tenants/{business_line}/projects/{project_name}"): "putProject",
    ("post", "/workflow/imports"): "importObject",
    ("get", "/workflow/reports/packs"): "getPackReport",
    ("get", "/workflow/reports/pipeline-runs"): "getPipelineRunReport",
    ("get", "/workflow/reports/costs"): "getCostReport",
    ("get", "/workflow/inventory/shares"): "listInventoryShares",
    ("get", "/workflow/inventory/recipients"): "listInventoryRecipients",
    ("post", "/workflow/inventory/export"): "exportInventory",
    ("put", "/workflow/projects/{project_id}/recertification"): "putProjectRecertification",
    ("get", "/workflow/sharepack/{share_pack_id}/recertification"): "getSharePackRecertification",
    ("post", "/workflow/sharepack/{share_pack_id}/recertify"): "recertifySharePack",
}

_HEADERS_BY_STATUS: dict[str, dict[str, Any]] = {
    "202": {"Location": {
        "description": "Where to follow the accepted work (e.g. the share pack's status)",
        "schema": {"type": "string", "format": "uri-reference"},
    }},
    "429": {"Retry-After": {
        "description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0},
    }},
    "503": {"Retry-After": {
        "description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0},
    }},
}


def derived_operation_id(method: str, path: str) -> str:
    """A verb-noun id for a route nobody named yet, e.g. `get` `/workflow/sync/jobs` -> `getSyncJobs`."""
    words = [w for w in re.split(r"[/_{}-]+", path.removeprefix("/workflow")) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


class OperationsPlugin(BasePlugin):
    """Completes each operation of the document: its operationId and the headers its statuses carry; and
    each schema with the rules across its fields that marshmallow cannot describe (a schema's
    `OPENAPI_EXTRA`, e.g. "at least one of these two lists")."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        """Runs after the marshmallow plugin's, on the properties it wrote.

        A nullable nested schema becomes exact: apispec writes `anyOf: [{type: object, nullable}, {$ref}]`,
        whose first branch lets any object through; `allOf: [{$ref}]` with `nullable` says "this or null".
        """
        properties = dict(definition.get("properties") or {})
        for field, prop in properties.items():
            branches = prop.get("anyOf") if isinstance(prop, dict) else None
            if (isinstance(branches, list) and len(branches) == 2
                    and branches[0] == {"type": "object", "nullable": True} and "$ref" in branches[1]):
                properties[field] = {"allOf": [branches[1]], "nullable": True}
        extra = getattr(kwargs.get("schema"), "OPENAPI_EXTRA", None) or {}
        return {**definition, "properties": properties, **extra} if properties or extra else None

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or path is None:
                continue
            # The table is the one place operations are named (it wins over a view's own `operationId`).
            operation["operationId"] = (OPERATION_IDS.get((method, path)) or operation.get("operationId")
                                        or derived_operation_id(method, path))
            for status, response in operation.get("responses", {}).items():
                headers = _HEADERS_BY_STATUS.get(str(status))
                # A `$ref` to a response component has no siblings: `DocumentedApi` gave the component them.
                if headers and isinstance(response, dict) and "$ref" not in response:
                    response.setdefault("headers", {}).update(headers)


class DocumentedApi(Api):
    """flask-smorest's Api with our error body, no catch-all `default` response in the document, and the
    document written when it is first asked for.

    Without `default`, every status a view can answer must be declared on the view (see
    `api.errors.documents_errors`), so a client, and the schemathesis run, can tell an undocumented answer.
    The error responses' components carry the headers their statuses promise.

    flask-smorest converts every view's schemas into the document as each blueprint is registered: about half
    of building the app, paid by every gunicorn worker that may never serve `/workflow/openapi.json`. Here a
    blueprint's routes are registered at once and its views are documented on the first read of `spec`, in
    the order the blueprints were registered, so the document is the same.
    """

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app: Any) -> None:
        self._document: APISpec | None = None  # complete: every registered blueprint's views documented
        self._draft: APISpec | None = None  # being written, seen only by the thread writing it
        self._spec_options: dict[str, Any] | None = None
        self._undocumented: list[tuple[Blueprint, str, Any]] = []
        self._writing = threading.RLock()
        super().__init__(app, spec_kwargs={"extra_plugins": [OperationsPlugin()]})

    @property  # type: ignore[override]
    def spec(self) -> APISpec | None:
        if self._document is None and self._spec_options is not None:
            with self._writing:  # reentrant: writing the document reads its draft through `spec`
                if self._draft is not None:
                    return self._draft
                if self._document is None:
                    self._write_document(self._spec_options)
        return self._document

    @spec.setter
    def spec(self, value: APISpec | None) -> None:
        self._draft = value

    def _init_spec(self, **options: Any) -> None:
        self._spec_options = options  # the document is written by `spec`, when it is first read
        self._app.cli.add_command(openapi_cli)  # `flask openapi write`, as flask-smorest's own does

    def _write_document(self, options: dict[str, Any]) -> None:
        try:
            super()._init_spec(**options)  # sets the draft through `spec`, then reads it back
            draft = self._draft
            assert draft is not None, "flask-smorest's _init_spec sets the spec"
            for blp, name, parameters in self._undocumented:
                blp.register_views_in_doc(self, self._app, draft, name=name, parameters=parameters)
                draft.tag({"name": name, "description": blp.description})
            self._document = draft
        finally:
            self._draft = None

    def register_blueprint(self, blp: Blueprint, *, parameters: Any = None, **options: Any) -> None:
        """`Api.register_blueprint`, with the views documented when the document is first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def _register_responses(self) -> None:
        super()._register_responses()
        for status, headers in _HEADERS_BY_STATUS.items():
            phrase = HTTPStatus(int(status))
            response: dict[str, Any] = {"description": phrase.phrase, "schema": self.ERROR_SCHEMA, "headers": headers}
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(phrase.name, response, lazy=True)  # replaces the lazy one registered above


def complete_headers(response: Response) -> Response:
    """Give every answer the headers its status promises (see the module docstring)."""
    if response.status_code in (429, 503) and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(DEFAULT_RETRY_AFTER_SECONDS)
    return response
