"""A D2O recipient's bearer tokens in its workspace: rotate one, and read when each expires.

Databricks semantics (https://docs.databricks.com/api/azure/workspace/recipients/rotatetoken): rotating sets
the existing token's expiry to now + `existing_token_expire_in_seconds` only if that is earlier (never
extends), issues a new token with a new activation link, and refuses while two tokens are active
(`INVALID_PARAMETER_VALUE: There are already two active tokens`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType, RecipientInfo

from shared.platform.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from shared.platform.settings import Settings
from shared.provisioning.clients import workspace_clients_from_settings
from shared.provisioning.errors import ObjectDoesNotExist, TransientProvisioningError, classify_failure

TokensFor = Callable[[str], "RecipientTokens"]
"""Gives the token operations of a workspace URL."""


@dataclass(frozen=True)
class TokenExpiry:
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class RotatedToken:
    """The outcome of a rotation; `activation_link` is a credential (kept out of repr)."""

    activation_link: str = field(repr=False)
    new_token_expires_at: datetime | None
    existing_token_expires_at: datetime | None


def _at(epoch_ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC) if epoch_ms else None


class RecipientTokens:
    """Token operations on one workspace, through the databricks-sdk client."""

    def __init__(self, client: WorkspaceClient) -> None:
        self._client = client

    def rotate(self, name: str, *, existing_token_expires_in_seconds: int) -> RotatedToken:
        """Rotate `name`'s token; the existing one keeps working for the given overlap (or less)."""
        before_ms = int(time.time() * 1000)
        info = self._call(
            f"recipient '{name}'",
            lambda: self._client.recipients.rotate_token(
                name, existing_token_expire_in_seconds=existing_token_expires_in_seconds
            ),
        )
        tokens = sorted(info.tokens or (), key=lambda t: t.created_at or 0)
        newest = tokens[-1] if tokens else None
        if newest is None or not newest.activation_url:
            raise ServiceUnavailable(f"The workspace rotated recipient '{name}' but returned no activation link")
        older = [t.expiration_time for t in tokens[:-1] if t.expiration_time and t.expiration_time > before_ms]
        return RotatedToken(
            activation_link=newest.activation_url,
            new_token_expires_at=_at(newest.expiration_time),
            existing_token_expires_at=_at(max(older)) if older else None,
        )

    def newest_token(self, name: str) -> TokenExpiry | None:
        """The most recently issued token of a TOKEN recipient, if it has an expiry and has not expired yet.

        Only the newest counts for expiry notices: after a rotation the older token expiring is intended.
        None also when the recipient is gone from the workspace.
        """
        try:
            info = self._call(f"recipient '{name}'", lambda: self._client.recipients.get(name))
        except NotFound:
            return None
        return _newest_active(info)

    @staticmethod
    def _call(concerning: str, fn: Callable[[], RecipientInfo]) -> RecipientInfo:
        try:
            return fn()
        except Exception as exc:
            error = classify_failure(exc, concerning=concerning)
            if error is None:
                raise
            if isinstance(error, ObjectDoesNotExist):
                raise NotFound(f"Recipient not found in the workspace: {error.message}") from None
            if isinstance(error, TransientProvisioningError):
                raise ServiceUnavailable(f"The workspace is unavailable: {error.message}") from None
            if "two active tokens" in error.message:
                raise Conflict(
                    f"{error.message}. Wait until the existing token expires, or rotate with "
                    "ExistingTokenExpiresInSeconds 0 next time"
                ) from None
            raise InvalidInput(error.message) from None


def _newest_active(info: RecipientInfo) -> TokenExpiry | None:
    if info.authentication_type is not AuthenticationType.TOKEN or not info.tokens:
        return None
    newest = max(info.tokens, key=lambda t: t.created_at or 0)
    expires_at = _at(newest.expiration_time)
    if expires_at is None or expires_at <= datetime.now(UTC):
        return None
    return TokenExpiry(token_id=newest.id or "", expires_at=expires_at)


def tokens_from_settings(settings: Settings) -> TokensFor | None:
    """Token operations per workspace with the configured credentials; None when there are none."""
    clients = workspace_clients_from_settings(settings)
    if clients is None:
        return None
    return lambda workspace_url: RecipientTokens(clients.client(workspace_url))
