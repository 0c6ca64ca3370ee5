"""Failures talking to Microsoft Graph, classified once here (the API maps the shared bases to HTTP)."""

from __future__ import annotations

from shared.platform.errors import ConfigurationError, ServiceUnavailable, WorkflowError


class GraphError(WorkflowError):
    """Graph answered with an error we do not retry; ``code`` is Graph's ``error.code``."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphNotFound(GraphError):
    """The user or group does not exist (``Request_ResourceNotFound``)."""


class GraphDeltaExpired(GraphError):
    """The stored delta link can no longer be used: the caller must run a full synchronisation.

    Graph says so with 400 ``syncStateNotFound`` (a token older than 7 days) or 410 Gone ``resyncRequired``
    (https://learn.microsoft.com/graph/delta-query-overview).
    """


class GraphUnavailable(GraphError, ServiceUnavailable):
    """Graph did not answer usefully in time: throttled beyond our retries, 5xx, network, or the budget ran out."""


class GraphAuthenticationFailed(GraphError, ConfigurationError):
    """The app cannot get or use a token (wrong secret, missing admin consent): retrying will not help."""
