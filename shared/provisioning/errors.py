"""What can go wrong while provisioning a workspace, classified once for the whole engine.

The orchestrator needs one decision per failure: try again later (the message goes back to the queue) or
fail the share pack with Databricks' own message. That decision is made here and only here, from the
exception *class* and the ``error_code`` the SDK parsed (``databricks.sdk.errors``: a persistent 429/503 ends
as the built-in ``TimeoutError``; Unity Catalog's object-specific codes map by HTTP status only) — never from message
text, which Databricks rewords freely. Everything the gateway raises is a `ProvisioningError`.

Two subclasses of the permanent kind exist because the provisioner itself reacts to them: a create that meets
an existing object (`ObjectAlreadyExists`) or a removal that meets a missing one (`ObjectDoesNotExist`)
may mean "an earlier attempt already did this", which `apply` checks before giving up.
"""

from __future__ import annotations

from typing import Any

import requests
from databricks.sdk import errors as sdk_errors

from shared.platform.errors import WorkflowError


class ProvisioningError(WorkflowError):
    """A workspace call failed.

    Attributes:
        error_code: Databricks' ``error_code`` (e.g. ``TABLE_DOES_NOT_EXIST``), or a name for failures that
            never reached Databricks (``TIMEOUT``, ``CONNECTION_ERROR``, ``PLAN_CONFLICT``).
        databricks_message: the message as Databricks (or the transport) worded it, for ``ErrorMessage``.
        concerning: the object the call was about, e.g. ``share 'sales'`` or ``recipient 'acme'``.
        partial_result: set by the `apply` functions when a step fails part-way: the `StepResult` of what that
            step did complete (audit rows and activation links must still be recorded).
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        databricks_message: str | None = None,
        concerning: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.error_code = error_code
        self.databricks_message = databricks_message if databricks_message is not None else message
        self.concerning = concerning
        self.partial_result: Any = None

    @property
    def retryable(self) -> bool:
        """Whether trying the same share pack again later can succeed without anyone changing anything."""
        return False


class TransientProvisioningError(ProvisioningError):
    """Throttling, 5xx, timeouts, connection failures: return the message to the queue and try later.

    `retry_after_seconds` is the server's `Retry-After` on a 429/503, when it sent one: the next attempt
    waits at least that long.
    """

    def __init__(self, message: str, *, retry_after_seconds: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_seconds = retry_after_seconds

    @property
    def retryable(self) -> bool:
        return True


class PermanentProvisioningError(ProvisioningError):
    """Permission denied, missing table, invalid parameter, conflicting definition: fail the share pack."""


class ObjectAlreadyExists(PermanentProvisioningError):
    """A create or ADD met an object of that name (``*_ALREADY_EXISTS``, ``ALREADY_EXISTS``)."""


class ObjectDoesNotExist(PermanentProvisioningError):
    """The object a call named is missing (404: ``*_DOES_NOT_EXIST``, ``RESOURCE_DOES_NOT_EXIST``)."""


class PlanConflict(PermanentProvisioningError):
    """The workspace holds something the share pack would contradict; the plan must not be applied."""

    def __init__(self, conflicts: list[str] | tuple[str, ...], *, concerning: str | None = None) -> None:
        conflicts = list(conflicts)
        super().__init__(
            "The workspace already holds objects that differ from the share pack: " + "; ".join(conflicts),
            error_code="PLAN_CONFLICT",
            concerning=concerning,
            details=[{"conflict": conflict} for conflict in conflicts],
        )
        self.conflicts = conflicts


# Throttling and server-side trouble. 429/503 normally never get here (the SDK retries them until its
# deadline and then raises the built-in TimeoutError), but a 429 with an unusual code can.
_TRANSIENT_CLASSES: tuple[type[BaseException], ...] = (
    sdk_errors.TooManyRequests,  # incl. ResourceExhausted, RequestLimitExceeded
    sdk_errors.TemporarilyUnavailable,
    sdk_errors.InternalError,  # incl. Unknown, DataLoss
    sdk_errors.DeadlineExceeded,
    sdk_errors.Aborted,  # a concurrent modification: the same call succeeds later
    sdk_errors.Cancelled,
)
_PERMANENT_CLASSES: tuple[type[BaseException], ...] = (
    sdk_errors.PermissionDenied,
    sdk_errors.Unauthenticated,
    sdk_errors.BadRequest,
    sdk_errors.NotFound,
    sdk_errors.ResourceConflict,
    sdk_errors.NotImplemented,
)


def _is_already_exists(exc: sdk_errors.DatabricksError) -> bool:
    code = exc.error_code or ""
    return isinstance(exc, sdk_errors.ResourceAlreadyExists | sdk_errors.AlreadyExists) or code.endswith(
        "ALREADY_EXISTS"
    )


def classify_failure(exc: BaseException, *, concerning: str, sdk_suffix: str | None = None) -> ProvisioningError | None:
    """Return the `ProvisioningError` an SDK or transport failure means, or None if it is neither.

    Args:
        exc: what the SDK raised.
        concerning: the object the call was about, carried into the error for the status message.
        sdk_suffix: the text the SDK appends to 401/403 messages (``Config: host=…``), removed so that
            ``databricks_message`` is Databricks' own words.

    None means a programming error (a bug, not a workspace answer): the caller lets it propagate.
    """
    if isinstance(exc, ProvisioningError):
        return exc
    if isinstance(exc, sdk_errors.DatabricksError):
        message = str(exc)
        if sdk_suffix and message.endswith(sdk_suffix):
            message = message[: -len(sdk_suffix)].rstrip(". ") + "."
        code = exc.error_code
        kwargs: dict[str, Any] = {"error_code": code, "databricks_message": message, "concerning": concerning}
        text = f"{concerning}: {message}"
        if isinstance(exc, _TRANSIENT_CLASSES):
            return TransientProvisioningError(text, retry_after_seconds=_retry_after(exc), **kwargs)
        if _is_already_exists(exc):
            return ObjectAlreadyExists(text, **kwargs)
        if isinstance(exc, sdk_errors.NotFound):
            return ObjectDoesNotExist(text, **kwargs)
        if isinstance(exc, _PERMANENT_CLASSES):
            return PermanentProvisioningError(text, **kwargs)
        # A status the SDK does not map (502, other 5xx) reaches us as the bare base class.
        return TransientProvisioningError(text, retry_after_seconds=_retry_after(exc), **kwargs)
    if isinstance(exc, TimeoutError):
        # The SDK's retry budget ran out (persistent 429/503, connection refused, HTTP timeouts): the
        # last real failure is the cause and says why.
        cause = exc.__cause__
        code = getattr(cause, "error_code", None) or "TIMEOUT"
        detail = f"{exc} (last error: {cause})" if cause is not None else str(exc)
        return TransientProvisioningError(
            f"{concerning}: {detail}",
            error_code=code,
            databricks_message=detail,
            concerning=concerning,
            retry_after_seconds=_retry_after(cause),
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return TransientProvisioningError(
            f"{concerning}: {exc}",
            error_code="CONNECTION_ERROR",
            databricks_message=str(exc),
            concerning=concerning,
        )
    return None


def _retry_after(exc: BaseException | None) -> int | None:
    """The `Retry-After` seconds the SDK parsed from a 429/503 reply (`retry_after_secs`), if any."""
    seconds = getattr(exc, "retry_after_secs", None)
    return seconds if isinstance(seconds, int) and seconds >= 0 else None
