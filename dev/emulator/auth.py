"""Who may call the emulated workspace: personal access tokens and AAD-issued service principal tokens.

The Azure service-principal path of databricks-sdk (``databricks/sdk/credentials_provider.py``) asks
``{aad}/{tenant}/oauth2/token`` for two tokens — one for the Databricks resource, one for Azure management —
and then sends both on every call. The emulator plays that AAD endpoint so the path can be exercised end to
end on a laptop.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_TOKEN = "local-dev-token"
DEFAULT_PRINCIPAL = "provisioner@example.com"
DEFAULT_TENANT_ID = "00000000-0000-0000-0000-00000000aad0"
DATABRICKS_RESOURCE_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
AAD_TOKEN_LIFETIME_SECONDS = 3599


@dataclass(frozen=True)
class AadTokenError(Exception):
    """An AAD token request refused, rendered as ``{"error", "error_description"}``."""

    status: int
    error: str
    description: str


class Authenticator:
    """Maps bearer tokens to the principal that holds them and issues AAD tokens.

    Args:
        tokens: personal access tokens accepted on ``/api/**``; they act as ``principal``.
        principal: the identity PAT callers get (``created_by``, default owner).
        service_principals: ``client_id -> client_secret`` the AAD endpoint accepts; ``None`` accepts
            any non-empty pair (handy locally; pass a mapping to test refused credentials).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        principal: str = DEFAULT_PRINCIPAL,
        service_principals: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._principals: dict[str, str] = {token: principal for token in tokens}
        self._service_principals = dict(service_principals) if service_principals is not None else None

    def principal_for(self, authorization: str | None) -> str | None:
        """Return the caller behind an ``Authorization`` header, or ``None`` if not authenticated."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            return self._principals.get(authorization.removeprefix("Bearer ").strip())

    def issue_aad_token(self, form: Mapping[str, str]) -> dict[str, object]:
        """Answer a client-credentials token request (AAD v1 form fields)."""
        if form.get("grant_type") != "client_credentials":
            raise AadTokenError(400, "unsupported_grant_type", f"Unsupported grant_type {form.get('grant_type')!r}")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        known = self._service_principals
        if not client_id or not secret or (known is not None and known.get(client_id) != secret):
            raise AadTokenError(401, "invalid_client", f"AADSTS7000215: Invalid client secret for '{client_id}'")
        token = secrets.token_urlsafe(32)
        if form.get("resource") == DATABRICKS_RESOURCE_ID:
            # Only the Databricks-resource token opens the API; the management token is merely carried along.
            with self._lock:
                self._principals[token] = client_id
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": AAD_TOKEN_LIFETIME_SECONDS,
            "resource": form.get("resource", ""),
        }
