"""One place that turns errors into HTTP responses, all with the same body shape.

Body: `{"Message": ..., "ErrorCode": ..., "RequestId": ...}` plus `ValidationErrors`/`ValidationWarnings`
for refused share packs (`api.schemas.ErrorSchema` documents it). Domain errors map by type; anything
unexpected is logged with its traceback and answered with a plain 500 — a stack trace never reaches a client.
Views declare the error statuses they can answer with `documents_errors`, so the OpenAPI document lists
every response a client can get.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, g, jsonify
from flask_smorest import Blueprint
from flask_smorest.arguments import ArgumentsMixin
from marshmallow import RAISE
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from shared.platform.db import is_database_unavailable
from shared.platform.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    WorkflowError,
)
from shared.platform.logging import get_logger
from shared.platform.metrics import VALIDATION_FAILURES, validation_rule
from shared.use_cases.submit import InvalidSharePack

log = get_logger(__name__)

# Most specific first: the first matching type decides the status.
STATUS_BY_ERROR: tuple[tuple[type[WorkflowError], int, str], ...] = (
    (InvalidSharePack, 400, "INVALID_SHARE_PACK"),
    (PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
    (UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (InvalidInput, 400, "INVALID_INPUT"),
    (Unauthenticated, 401, "UNAUTHENTICATED"),
    (Forbidden, 403, "FORBIDDEN"),
    (NotFound, 404, "NOT_FOUND"),
    (Conflict, 409, "CONFLICT"),
    (TooManyRequests, 429, "TOO_MANY_REQUESTS"),
    (ServiceUnavailable, 503, "SERVICE_UNAVAILABLE"),
)


View = TypeVar("View", bound=Callable[..., Any])

# One status for every refused input, whether the domain or a view's schema refuses it: 400. webargs answers
# 422 by default; but a share pack that breaks a rule was always 400 for this API's clients (and the CLI), a
# schema cannot tell "malformed" from "semantically wrong" any better than the domain can, and RFC 9110
# (section 15.5.1) lets 400 cover both. Set before any route module applies `@blp.arguments` (each takes
# the parser's status when it is decorated; `api/__init__.py` imports this module first).
ArgumentsMixin.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = HTTPStatus.BAD_REQUEST
# A query parameter the view does not declare is refused (400 naming it), not ignored: a client's typo
# (`?stauts=FAILED`) must not silently list everything, and the document then says all a query may hold.
ArgumentsMixin.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION = {
    **ArgumentsMixin.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE, "querystring": RAISE,
}


# What a protected route outside the share pack routes may answer besides its success: bad input (400),
# no or bad credentials (401), a rule that refuses the caller (403), an unknown or invisible id (404), a state
# that forbids the action (409), a rate limit or lockout (429), a dependency down (503).
ROUTE_ERRORS = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
    HTTPStatus.TOO_MANY_REQUESTS,
    HTTPStatus.SERVICE_UNAVAILABLE,
)


def documents_errors(blp: Blueprint, *statuses: HTTPStatus) -> Callable[[View], View]:
    """Declare these error answers of a view, each with the error body, in the OpenAPI document."""

    def decorate(view: View) -> View:
        for status in statuses:
            # flask-smorest registers one response component per HTTP status name, using Api.ERROR_SCHEMA.
            view = blp.alt_response(status.value, response=status.name)(view)
        return view

    return decorate


def status_for(exc: WorkflowError) -> tuple[int, str]:
    """The HTTP status and error code of a domain error (500 for a type nobody mapped)."""
    for error_type, status, code in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status, code
    return 500, "INTERNAL_ERROR"


def error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"Message": message, "ErrorCode": code, "RequestId": g.get("request_id"), **extra}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def _workflow_error(exc: WorkflowError):
        status, code = status_for(exc)
        if status in (401, 403):  # refusals leave a record naming the rule, even though nothing was stored
            log.info("request.refused", status=status, reason=exc.message)
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidSharePack):
            for issue in exc.errors:
                VALIDATION_FAILURES.labels(validation_rule(issue.path)).inc()
            extra = {
                "ValidationErrors": [e.to_dict() for e in exc.errors],
                "ValidationWarnings": [w.to_dict() for w in exc.warnings],
            }
        elif exc.details:
            extra = {"Details": exc.details}
        response = jsonify(error_body(exc.message, code, **extra))
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").upper().replace(" ", "_")
        message = exc.description or exc.name
        messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
        if exc.code == 413:
            message = "The upload is larger than the configured limit"
        extra = {"Details": messages} if messages else {}
        if messages and exc.code == 400:  # a view's schema refused the input: the code the domain's refusals have
            code = "INVALID_INPUT"
        response = jsonify(error_body(message, code, **extra))
        response.status_code = exc.code or 500
        if "Allow" in (headers := dict(exc.get_headers())):  # a 405 names the methods the path has (RFC 9110)
            response.headers["Allow"] = headers["Allow"]
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        if not is_database_unavailable(exc):  # e.g. a statement too complex is a bug, not an outage
            return _unexpected(exc)
        log.warning("request.database_unavailable")
        response = jsonify(error_body("The database is unavailable; retry later", "SERVICE_UNAVAILABLE"))
        response.status_code = 503
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("request.failed")
        response = jsonify(
            error_body("Internal error; the request id identifies it in our logs", "INTERNAL_ERROR")
        )
        response.status_code = 500
        return response

