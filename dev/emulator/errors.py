"""Unity Catalog style errors raised by the workspace model and rendered by the HTTP layer.

The databricks-sdk picks the exception class from ``error_code`` first and the HTTP status second
(``databricks/sdk/errors/mapper.py``), so every failure carries both, exactly as a real workspace would send them.
"""

from __future__ import annotations

from typing import Literal

#: ``specific`` answers ``RECIPIENT_ALREADY_EXISTS``/``SHARE_DOES_NOT_EXIST`` (what Unity Catalog sends);
#: ``canonical`` answers ``RESOURCE_ALREADY_EXISTS``/``RESOURCE_DOES_NOT_EXIST`` (what newer services send).
#: The worker must cope with both, so the emulator can play either.
ErrorCodeStyle = Literal["specific", "canonical"]
ERROR_CODE_STYLES: tuple[str, ...] = ("specific", "canonical")


class ApiError(Exception):
    """A failed API call: the HTTP status, the ``error_code`` and the human message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message


def invalid_parameter(message: str) -> ApiError:
    """Return a 400 ``INVALID_PARAMETER_VALUE`` error."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def permission_denied(message: str) -> ApiError:
    """Return a 403 ``PERMISSION_DENIED`` error."""
    return ApiError(403, "PERMISSION_DENIED", message)


def does_not_exist(kind: str, message: str, *, style: ErrorCodeStyle = "specific") -> ApiError:
    """Return a 404 ``<KIND>_DOES_NOT_EXIST`` (or ``RESOURCE_DOES_NOT_EXIST``) error."""
    code = "RESOURCE_DOES_NOT_EXIST" if style == "canonical" else f"{kind.upper()}_DOES_NOT_EXIST"
    return ApiError(404, code, message)


def already_exists(kind: str, message: str, *, style: ErrorCodeStyle = "specific") -> ApiError:
    """Return a 409 ``<KIND>_ALREADY_EXISTS`` (or ``RESOURCE_ALREADY_EXISTS``) error."""
    code = "RESOURCE_ALREADY_EXISTS" if style == "canonical" else f"{kind.upper()}_ALREADY_EXISTS"
    return ApiError(409, code, message)
