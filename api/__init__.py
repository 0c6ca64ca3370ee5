"""The API: a thin Flask service that validates share packs, stores them with history and queues them.

`create_app` is the composition root: it receives every collaborator (sessions, the outbox publisher, the
health check) and builds nothing that touches the outside world. `api/wsgi.py` builds the production ones;
tests pass their own (sessions inside a rolled-back transaction, a recording publisher) through the same door.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from flask import Flask, abort, g, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Rule

from api import docs
from api.auth import Authenticator
from api.console import blp as console_blp
from api.console import check_settings as check_console_settings
from api.console.session import configure_sessions
from api.context import Services
from api.errors import register_error_handlers
from api.input_guard import check_fields, check_json_body, is_json
from api.openapi import DocumentedApi, complete_headers
from api.routes import (
    admin,
    approvals,
    drift,
    health,
    inventory,
    lifecycle,
    metrics,
    recertification,
    recipients,
    reports,
    share_packs,
    sync,
    validate,
)
from api.security_headers import add_security_headers
from api.uploads import build_workflow
from shared.platform import metrics as measured
from shared.platform import tracing

MULTIPART_OVERHEAD_BYTES = 64 * 1024
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# A caller's X-Request-ID is kept (so their logs and ours join) only if it cannot forge log content.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class _RuleBuildingUrlsOnDemand(Rule):
    """A route whose URL builders are compiled when first called.

    werkzeug writes and compiles two Python functions per route as it is added, to build its URLs: 15 of the
    17 ms building this app took, in every gunicorn worker. Few routes ever build a URL (`url_for` for a
    `Location` header or a console redirect), and matching a request does not use them. If werkzeug stops
    calling `_compile_builder`, its routes are compiled at once again, as before.
    """

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, *args: Any, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                compiled = compile_now(append_unknown)
            return compiled(rule, *args, **values)

        return build


class _App(Flask):
    url_rule_class = _RuleBuildingUrlsOnDemand


def create_app(services: Services) -> Flask:
    """Build the Flask app around its collaborators; the caller owns their lifecycle (e.g. the publisher thread).

    `create_app` adds what it derives from them: the authenticator (from the settings) and the workflow.

    Raises:
        ConfigurationError: the settings cannot serve this deployment (e.g. no console key in production).
    """
    settings = services.settings
    check_console_settings(settings)
    app = _App(__name__)
    app.config.update(
        API_TITLE="Share Pack Workflow",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/workflow",
        OPENAPI_JSON_PATH="openapi.json",
        # Swagger UI is served by `api.docs` from a local copy (no CDN, no inline script).
        OPENAPI_SWAGGER_UI_PATH=None,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        },
    )
    services = replace(services, authenticator=Authenticator(settings))
    app.extensions["sharepack"] = replace(services, workflow=build_workflow(services))

    configure_sessions(app, settings)
    _trust_proxy_hops(app, settings.trusted_proxy_hops)
    tracing.configure(settings, "sharepack-api")

    @app.before_request
    def _start_request() -> None:
        g.request_id = _request_id(request.headers.get("X-Request-ID"))
        g.started = time.perf_counter()
        g.span = tracing.ServerSpan.start(_traced_request(), request_id=g.request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=g.request_id, method=request.method, path=request.path
        )
        if not settings.enable_workflow and request.path.startswith(("/workflow", "/console")):
            abort(404)
        if any(isinstance(v, str) and CONTROL_CHARACTER.search(v) for v in (request.view_args or {}).values()):
            abort(404)  # no group, tenant, project or recipient has such a name (and PostgreSQL cannot hold NUL)
        _check_input()

    @app.after_request
    def _finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        _measure(response.status_code)
        g.status_code = response.status_code
        complete_headers(response)
        return add_security_headers(response, https_only=settings.deployment == "production")

    @app.teardown_request
    def _close_span(error: BaseException | None) -> None:
        span = g.pop("span", None)
        if span is not None:
            span.finish(g.get("status_code"), error)

    api = DocumentedApi(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(share_packs.blp)
    api.register_blueprint(lifecycle.blp)
    api.register_blueprint(validate.blp)
    api.register_blueprint(drift.blp)
    app.register_blueprint(metrics.blp)  # plain Flask: /metrics is for Prometheus, not in the OpenAPI document
    api.register_blueprint(sync.blp)
    api.register_blueprint(recipients.blp)
    api.register_blueprint(approvals.blp)
    api.register_blueprint(admin.blp)
    api.register_blueprint(recertification.blp)
    api.register_blueprint(recertification.projects_blp)
    api.register_blueprint(reports.blp)
    api.register_blueprint(inventory.blp)
    app.register_blueprint(docs.blp)
    app.register_blueprint(console_blp)
    register_error_handlers(app)  # after Api(): our body shape replaces flask-smorest's
    return app


def _trust_proxy_hops(app: Flask, hops: int) -> None:
    """Believe the last `hops` proxies' X-Forwarded-For and X-Forwarded-Proto, so the client's address and
    scheme are the ones the TLS ingress saw (https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/).

    In the app rather than gunicorn's `forwarded_allow_ips`: that trusts proxies by address, and the
    Container Apps ingress has none we can name, and it would not apply under the test client. The Host
    header is passed through by the ingress, so X-Forwarded-Host is not believed.
    """
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _check_input() -> None:
    """Refuse hostile form fields and JSON bodies with a 400 before any view parses them (query fields are
    the views' schemas' to refuse, with a 400 naming the field)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if is_json(request.mimetype):
            check_json_body(request.get_data(cache=True))
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            check_fields(request.form.items(multi=True), "form")


def _measure(status: int) -> None:
    """Count the request by route template (bounded labels: never the raw path)."""
    route = request.url_rule.rule if request.url_rule else "unmatched"
    measured.HTTP_REQUESTS.labels(measured.http_method(request.method), route, str(status)).inc()
    if "started" in g:
        measured.HTTP_DURATION.labels(route).observe(time.perf_counter() - g.started)
    if route == "/workflow/sharepack/upload" and request.method == "POST":
        measured.UPLOADS.labels(measured.upload_result(status)).inc()


def _traced_request() -> tracing.HttpRequest:
    return tracing.HttpRequest(
        method=request.method,
        scheme=request.scheme,
        host=request.host,
        path=request.path,
        route=request.url_rule.rule if request.url_rule else None,
        headers=request.headers,
        client_address=request.remote_addr,
    )


def _request_id(supplied: str | None) -> str:
    return supplied if supplied and REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
