"""Access tokens for Graph with the client-credentials grant (app-only, no user).

Production uses azure-identity: ``ClientSecretCredential`` when a secret is configured, else a
``ManagedIdentityCredential``. Both keep their own token cache and refresh before expiry, so one instance
lives per process. azure-identity refuses an ``http://`` authority (``normalize_authority`` raises), so a
plain-HTTP emulator on loopback gets the same grant as one form POST instead (``LoopbackTokenProvider``).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol
from urllib.parse import urlparse

import requests

from shared.graph.errors import GraphAuthenticationFailed, GraphUnavailable

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Refresh this long before expiry, like azure-identity's default refresh window.
REFRESH_MARGIN_SECONDS = 300


class TokenProvider(Protocol):
    """Gives a bearer token for Graph; ``invalidate`` after Graph rejects it (401 InvalidAuthenticationToken)."""

    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class AzureIdentityTokenProvider:
    """Adapts an azure-identity credential (client secret or managed identity)."""

    def __init__(self, credential: Any) -> None:
        self.credential = credential
        self._force_refresh = False

    def token(self) -> str:
        """A valid token from the credential's cache, or a new one."""
        from azure.core.exceptions import ClientAuthenticationError

        try:
            if self._force_refresh:
                self._force_refresh = False
                # get_token_info(..., options) arrived in azure-core 1.31; claims force a fresh token.
                return str(self.credential.get_token(GRAPH_SCOPE, claims="{}").token)
            return str(self.credential.get_token(GRAPH_SCOPE).token)
        except ClientAuthenticationError as exc:
            raise GraphAuthenticationFailed(f"Azure AD refused the Graph credentials: {exc.message}") from exc

    def invalidate(self) -> None:
        """Ask for a fresh token next time."""
        self._force_refresh = True


class LoopbackTokenProvider:
    """The client-credentials grant as one form POST, for an emulator served over plain HTTP on loopback."""

    def __init__(self, authority_host: str, tenant_id: str, client_id: str, client_secret: str,
                 *, timeout: float = 10.0) -> None:
        if urlparse(authority_host).hostname not in LOOPBACK_HOSTS:
            raise GraphAuthenticationFailed(f"refusing to send a client secret over plain HTTP to {authority_host}")
        self.url = f"{authority_host.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        """A cached token, or a new one when it is within the refresh margin of expiry."""
        with self._lock:
            if self._token is None or time.time() > self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token."""
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret, "scope": GRAPH_SCOPE}
        try:
            response = requests.post(self.url, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GraphUnavailable(f"token endpoint unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise GraphUnavailable(f"token endpoint answered {response.status_code}", status=response.status_code)
        body = response.json()
        if response.status_code != 200:
            raise GraphAuthenticationFailed(
                f"Azure AD refused the Graph credentials: {body.get('error_description', body.get('error'))}",
                status=response.status_code, code=body.get("error"),
            )
        return str(body["access_token"]), time.time() + float(body["expires_in"])


def build_token_provider(*, authority_host: str, tenant_id: str, client_id: str | None,
                         client_secret: str | None) -> TokenProvider:
    """The provider for these settings: loopback HTTP (emulator), client secret, or managed identity."""
    if authority_host.startswith("http://"):
        if not (client_id and client_secret):
            raise GraphAuthenticationFailed(
                "an HTTP (emulator) authority needs graph_client_id and graph_client_secret"
            )
        return LoopbackTokenProvider(authority_host, tenant_id, client_id, client_secret)
    from azure.identity import ClientSecretCredential, ManagedIdentityCredential

    if client_secret:
        if not client_id:
            raise GraphAuthenticationFailed("graph_client_secret is set without graph_client_id")
        host = urlparse(authority_host).netloc or authority_host
        return AzureIdentityTokenProvider(ClientSecretCredential(tenant_id, client_id, client_secret, authority=host))
    # No secret: the process's managed identity (user-assigned when a client id is given).
    return AzureIdentityTokenProvider(ManagedIdentityCredential(client_id=client_id) if client_id
                                      else ManagedIdentityCredential())
