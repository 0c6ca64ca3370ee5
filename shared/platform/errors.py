"""The error types every layer shares.

Each class names a kind of failure, not an HTTP status; the API maps these types to statuses in exactly one
place (`api/errors.py`) and the worker maps them to queue outcomes. Raise the most specific subclass and put
what the user needs to act on in the message.
"""

from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    """Base class of every error this service raises on purpose."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigurationError(WorkflowError):
    """A setting is missing or malformed; raised at start-up, before any work."""


class InvalidInput(WorkflowError):
    """The caller sent something we refuse; retrying the same input will fail again."""


class PayloadTooLarge(InvalidInput):
    """The upload exceeds the configured size limit."""


class UnsupportedMediaType(InvalidInput):
    """The upload is not a file type we read (judged by content, not only by name)."""


class NotFound(WorkflowError):
    """The requested entity does not exist (or the id is malformed, which callers cannot tell apart)."""


class Conflict(WorkflowError):
    """The change collides with a concurrent change or with existing state."""


class Unauthenticated(WorkflowError):
    """The caller did not prove who they are."""


class TooManyRequests(WorkflowError):
    """The caller went past a rate limit, or is locked out after failed sign-ins; `retry_after` in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(WorkflowError):
    """The caller is known but a rule refuses them this action; the message names the rule."""


class ServiceUnavailable(WorkflowError):
    """A dependency (database, queue, workspace) cannot be reached right now; retry later."""
