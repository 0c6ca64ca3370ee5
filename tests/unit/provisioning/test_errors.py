"""Failure classification: by SDK exception class and error_code, never by message text."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import errors as sdk_errors

from shared.platform.errors import WorkflowError
from shared.provisioning.errors import (
    ObjectAlreadyExists,
    ObjectDoesNotExist,
    PermanentProvisioningError,
    ProvisioningError,
    TransientProvisioningError,
    classify_failure,
)


def _throttled() -> TimeoutError:
    try:
        try:
            raise sdk_errors.TooManyRequests("Too many requests", error_code="REQUEST_LIMIT_EXCEEDED")
        except sdk_errors.TooManyRequests as cause:
            raise TimeoutError("Timed out after 0:00:10") from cause
    except TimeoutError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (sdk_errors.TooManyRequests("slow down"), TransientProvisioningError, None),
        (sdk_errors.TemporarilyUnavailable("busy"), TransientProvisioningError, None),
        (sdk_errors.InternalError("boom", error_code="INTERNAL_ERROR"), TransientProvisioningError, "INTERNAL_ERROR"),
        (sdk_errors.DeadlineExceeded("late"), TransientProvisioningError, None),
        (sdk_errors.Aborted("concurrent change", error_code="ABORTED"), TransientProvisioningError, "ABORTED"),
        (
            sdk_errors.DatabricksError("bad gateway", error_code="BAD_GATEWAY"),
            TransientProvisioningError,
            "BAD_GATEWAY",
        ),
        (requests.ConnectionError("refused"), TransientProvisioningError, "CONNECTION_ERROR"),
        (
            sdk_errors.PermissionDenied("no SELECT", error_code="PERMISSION_DENIED"),
            PermanentProvisioningError,
            "PERMISSION_DENIED",
        ),
        (sdk_errors.Unauthenticated("bad token"), PermanentProvisioningError, None),
        (
            sdk_errors.InvalidParameterValue("bad ip", error_code="INVALID_PARAMETER_VALUE"),
            PermanentProvisioningError,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            sdk_errors.BadRequest("disabled", error_code="FEATURE_DISABLED"),
            PermanentProvisioningError,
            "FEATURE_DISABLED",
        ),
        (
            sdk_errors.NotFound("Table 'c.s.t' does not exist", error_code="TABLE_DOES_NOT_EXIST"),
            ObjectDoesNotExist,
            "TABLE_DOES_NOT_EXIST",
        ),
        (
            sdk_errors.ResourceConflict("Recipient a already exists", error_code="RECIPIENT_ALREADY_EXISTS"),
            ObjectAlreadyExists,
            "RECIPIENT_ALREADY_EXISTS",
        ),
        # the same code with a 400 status is still "already exists"
        (
            sdk_errors.BadRequest("Share s already exists", error_code="SHARE_ALREADY_EXISTS"),
            ObjectAlreadyExists,
            "SHARE_ALREADY_EXISTS",
        ),
        (
            sdk_errors.ResourceAlreadyExists("exists", error_code="RESOURCE_ALREADY_EXISTS"),
            ObjectAlreadyExists,
            "RESOURCE_ALREADY_EXISTS",
        ),
    ],
)
def test_failures_are_classified_by_class_and_error_code(exc, kind, code) -> None:
    error = classify_failure(exc, concerning="share 'sales'")

    assert type(error) is kind
    assert isinstance(error, ProvisioningError) and isinstance(error, WorkflowError)
    assert error.error_code == code
    assert error.concerning == "share 'sales'"
    assert error.retryable is (kind is TransientProvisioningError)


def test_an_exhausted_retry_budget_is_transient_and_keeps_the_last_cause() -> None:
    error = classify_failure(_throttled(), concerning="recipient 'acme'")

    assert isinstance(error, TransientProvisioningError)
    assert error.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert "Timed out after" in error.databricks_message and "Too many requests" in error.databricks_message


def test_a_message_that_sounds_transient_does_not_make_a_permanent_error_transient() -> None:
    exc = sdk_errors.PermissionDenied("please try again later, timeout", error_code="PERMISSION_DENIED")
    assert isinstance(classify_failure(exc, concerning="x"), PermanentProvisioningError)


def test_databricks_message_drops_the_config_the_sdk_appends() -> None:
    suffix = "Config: host=http://127.0.0.1:1, token=***, auth_type=pat"
    exc = sdk_errors.PermissionDenied(f"Share owner lacks SELECT on Table 'c.s.t'. {suffix}")

    error = classify_failure(exc, concerning="share 'sales'", sdk_suffix=suffix)

    assert error.databricks_message == "Share owner lacks SELECT on Table 'c.s.t'."
    assert str(error) == "share 'sales': Share owner lacks SELECT on Table 'c.s.t'."


def test_programming_errors_are_not_classified() -> None:
    assert classify_failure(KeyError("oops"), concerning="x") is None


def test_a_servers_retry_after_travels_on_the_transient_error() -> None:
    throttled = sdk_errors.TooManyRequests("slow down", retry_after_secs=42)
    try:
        try:
            raise sdk_errors.TemporarilyUnavailable("down", retry_after_secs=7)
        except sdk_errors.TemporarilyUnavailable as cause:
            raise TimeoutError("Timed out after 0:00:10") from cause
    except TimeoutError as exc:
        exhausted = exc

    assert classify_failure(throttled, concerning="share 's'").retry_after_seconds == 42
    assert classify_failure(exhausted, concerning="share 's'").retry_after_seconds == 7
    assert classify_failure(sdk_errors.InternalError("boom"), concerning="share 's'").retry_after_seconds is None
