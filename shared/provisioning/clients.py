"""Workspace clients: credentials, one `WorkspaceClient` per workspace, and the per-workspace call bound.

Authentication is databricks-sdk's unified auth with the strategy pinned (``auth_type``), so a stray
``DATABRICKS_*``/``ARM_*`` variable in the environment can never add a second method and make the SDK
refuse to start (https://learn.microsoft.com/azure/databricks/dev-tools/auth/unified-auth). A client is built
on first use — its construction probes the host with ``GET /.well-known/databricks-config`` — and then
reused by every share pack on that workspace, as is the semaphore that bounds how many
calls the process has in flight against it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from shared.platform.credentials import DatabricksCredentials
from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings, normalize_workspace_url
from shared.provisioning.gateway import DatabricksGateway

DEFAULT_CONCURRENCY = 8


class WorkspaceClients:
    """One `WorkspaceClient` (and one call bound) per workspace URL, created lazily and reused; thread-safe.

    Args:
        credentials: used for every workspace without its own entry in ``per_workspace``.
        per_workspace: workspace URL → credentials for that workspace.
        retry_timeout_seconds: the SDK's retry budget per call: 429/503 (honouring Retry-After), connection
            errors and timeouts are retried until it runs out, then the call fails as transient.
        http_timeout_seconds: the time limit of one HTTP request.
        concurrency: the most calls in flight against one workspace from this process, across share packs.
        product: the User-Agent product name, so the workspace's audit log shows who called.
    """

    def __init__(
        self,
        credentials: DatabricksCredentials | None = None,
        *,
        per_workspace: Mapping[str, DatabricksCredentials] | None = None,
        retry_timeout_seconds: int = 300,
        http_timeout_seconds: float = 60,
        concurrency: int = DEFAULT_CONCURRENCY,
        product: str = "sharepack-worker",
    ) -> None:
        self._default = credentials
        self._per_workspace = {normalize_workspace_url(u): c for u, c in (per_workspace or {}).items()}
        self._retry_timeout_seconds = retry_timeout_seconds
        self._http_timeout_seconds = http_timeout_seconds
        self._concurrency = max(1, concurrency)
        self._product = product
        self._lock = threading.Lock()
        self._clients: dict[str, WorkspaceClient] = {}
        self._building: dict[str, threading.Lock] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def credentials_for(self, workspace_url: str) -> DatabricksCredentials:
        """Return the credentials for a workspace (its own, else the default)."""
        credentials = self._per_workspace.get(normalize_workspace_url(workspace_url), self._default)
        if credentials is None:
            raise ConfigurationError(f"No Databricks credentials configured for {workspace_url}.")
        return credentials

    def client(self, workspace_url: str) -> WorkspaceClient:
        """Return the workspace's client, building it on first use.

        Building probes the host, which can take the whole retry budget if it is unreachable; a lock per
        workspace keeps that from holding up the other workspaces.
        """
        url = normalize_workspace_url(workspace_url)
        with self._lock:
            building = self._building.setdefault(url, threading.Lock())
        with building:
            client = self._clients.get(url)
            if client is None:
                config = Config(
                    host=url,
                    retry_timeout_seconds=self._retry_timeout_seconds,
                    http_timeout_seconds=self._http_timeout_seconds,
                    # the connection pool must not be smaller than the calls we allow in flight
                    max_connections_per_pool=max(20, self._concurrency),
                    max_connection_pools=max(20, self._concurrency),
                    product=self._product,
                    product_version="1",
                    **self.credentials_for(url).config_kwargs(),
                )
                client = self._clients[url] = WorkspaceClient(config=config)
            return client

    def slots(self, workspace_url: str) -> threading.BoundedSemaphore:
        """Return the semaphore bounding this process's calls in flight against a workspace."""
        url = normalize_workspace_url(workspace_url)
        with self._lock:
            return self._slots.setdefault(url, threading.BoundedSemaphore(self._concurrency))

    def gateway(self, workspace_url: str) -> DatabricksGateway:
        """Return a gateway on the workspace's shared client and shared call bound."""
        return DatabricksGateway(
            self.client(workspace_url), slots=self.slots(workspace_url), concurrency=self._concurrency
        )


def workspace_clients_from_settings(
    settings: Settings, *, product: str = "sharepack-worker", retry_timeout_seconds: int | None = None
) -> WorkspaceClients | None:
    """Return clients with the configured credentials (global or per workspace); None when there are none.

    Args:
        product: the SDK's user-agent product, so a workspace's audit log tells the callers apart.
        retry_timeout_seconds: how long the SDK retries a call (default: the configured
            ``databricks_retry_timeout_seconds``).
    """
    if settings.databricks_credentials is None and not settings.workspace_credentials:
        return None
    return WorkspaceClients(
        settings.databricks_credentials,
        per_workspace=settings.workspace_credentials,
        retry_timeout_seconds=retry_timeout_seconds or settings.databricks_retry_timeout_seconds,
        concurrency=settings.workspace_concurrency,
        product=product,
    )
