"""How the worker authenticates to a Databricks workspace: a token, or an Azure service principal.

Kept free of the databricks-sdk at run time, so settings (read by every process, the API included) can
hold credentials without importing the SDK; `shared.provisioning.clients` turns them into SDK clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.platform.errors import ConfigurationError

if TYPE_CHECKING:
    from databricks.sdk.environments import DatabricksEnvironment


@dataclass(frozen=True)
class DatabricksCredentials:
    """How to authenticate to a workspace: a token, or an Azure service principal.

    ``environment`` replaces the Azure endpoints the SDK derives from the host name; tests use it to send
    the service principal's token requests to the emulator (the SDK's ``azure-client-secret`` login,
    https://learn.microsoft.com/azure/databricks/dev-tools/auth/azure-sp). Secrets stay out of ``repr``.
    """

    token: str | None = field(default=None, repr=False)
    azure_client_id: str | None = None
    azure_client_secret: str | None = field(default=None, repr=False)
    azure_tenant_id: str | None = None
    environment: DatabricksEnvironment | None = None

    def __post_init__(self) -> None:
        azure = (self.azure_client_id, self.azure_client_secret)
        if self.token and any(azure):
            raise ConfigurationError("Give either a Databricks token or an Azure service principal, not both.")
        if not self.token and not all(azure):
            raise ConfigurationError(
                "Databricks credentials need a token, or azure_client_id and azure_client_secret "
                "(azure_tenant_id optional)."
            )

    def config_kwargs(self) -> dict[str, Any]:
        """Return the `databricks.sdk.core.Config` arguments for these credentials, strategy pinned."""
        kwargs: dict[str, Any]
        if self.token:
            kwargs = {"token": self.token, "auth_type": "pat"}
        else:
            kwargs = {
                "azure_client_id": self.azure_client_id,
                "azure_client_secret": self.azure_client_secret,
                "azure_tenant_id": self.azure_tenant_id,
                "auth_type": "azure-client-secret",
            }
        if self.environment is not None:
            kwargs["databricks_environment"] = self.environment
        return kwargs
