"""OIDC federation policies of open-sharing recipients: how a non-Databricks client proves who it is with
its own identity provider's tokens instead of a bearer token.

As databricks-sdk 0.162 calls them (`RecipientFederationPoliciesAPI`): create, list, get and delete under
``/api/2.0/data-sharing/recipients/{recipient}/federation-policies``; there is no update. A policy belongs to
an ``OIDC_FEDERATION`` recipient, is named in lowercase letters, digits and hyphens, and holds an
``oidc_policy`` with the token ``issuer``, the ``subject_claim`` and ``subject`` to match, and the allowed
``audiences`` (https://docs.databricks.com/api/workspace/recipientfederationpolicies/create).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dev.emulator.errors import already_exists, does_not_exist, invalid_parameter
from dev.emulator.recipients import RecipientsMixin

DATA_SHARING = "/api/2.0/data-sharing"
_POLICY_NAME = re.compile(r"^[a-z0-9-]{1,255}$")


class FederationPoliciesMixin(RecipientsMixin):
    """The federation policy operations; the policies live on their recipient (deleted with it)."""

    def _oidc_recipient(self, name: str) -> Any:
        recipient = self._recipient(name)
        if recipient.authentication_type != "OIDC_FEDERATION":
            raise invalid_parameter(f"Federation policies can only be managed for recipients with authentication "
                                    f"type OIDC_FEDERATION; '{recipient.name}' is {recipient.authentication_type}.")
        return recipient

    def create_federation_policy(self, recipient_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a policy (``POST .../federation-policies``)."""
        with self._lock:
            recipient = self._oidc_recipient(recipient_name)
            name = body.get("name")
            if not isinstance(name, str) or not _POLICY_NAME.match(name):
                raise invalid_parameter("Federation policy name must contain only lowercase alphanumeric "
                                        f"characters, numbers, and hyphens (got {name!r}).")
            policy = body.get("oidc_policy")
            if not isinstance(policy, Mapping):
                raise invalid_parameter("CreateFederationPolicy Missing required field: oidc_policy")
            for field_name in ("issuer", "subject_claim", "subject"):
                if not isinstance(policy.get(field_name), str) or not policy[field_name]:
                    raise invalid_parameter(f"CreateFederationPolicy Missing required field: oidc_policy.{field_name}")
            audiences = policy.get("audiences") or []
            if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
                raise invalid_parameter("oidc_policy.audiences must be a list of non-empty strings")
            policies = dict(recipient.federation_policies or {})
            if name in policies:
                raise already_exists("resource", f"Federation policy '{name}' already exists for recipient "
                                     f"'{recipient.name}'", style="canonical")
            at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            policies[name] = {
                "name": name,
                "id": str(uuid.uuid4()),
                "comment": body.get("comment"),
                "oidc_policy": {key: policy[key] for key in ("issuer", "subject_claim", "subject")}
                | ({"audiences": list(audiences)} if audiences else {}),
                "create_time": at,
                "update_time": at,
            }
            recipient.federation_policies = policies
            self._record(self._recipient_change(recipient.name))
            return _without_none(policies[name])

    def list_federation_policies(self, recipient_name: str) -> dict[str, Any]:
        """Return ``GET .../federation-policies`` (one page: a recipient has a handful)."""
        with self._lock:
            recipient = self._oidc_recipient(recipient_name)
            return {"policies": [_without_none(p) for _, p in sorted((recipient.federation_policies or {}).items())]}

    def get_federation_policy(self, recipient_name: str, name: str) -> dict[str, Any]:
        """Return ``GET .../federation-policies/{name}``."""
        with self._lock:
            policy = (self._oidc_recipient(recipient_name).federation_policies or {}).get(name)
            if policy is None:
                raise does_not_exist("resource", f"Federation policy '{name}' does not exist", style="canonical")
            return _without_none(policy)

    def delete_federation_policy(self, recipient_name: str, name: str) -> None:
        """Delete a policy (``DELETE .../federation-policies/{name}``); 404 if it does not exist."""
        with self._lock:
            recipient = self._oidc_recipient(recipient_name)
            policies = dict(recipient.federation_policies or {})
            if policies.pop(name, None) is None:
                raise does_not_exist("resource", f"Federation policy '{name}' does not exist", style="canonical")
            recipient.federation_policies = policies
            self._record(self._recipient_change(recipient.name))


def _without_none(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in policy.items() if value is not None}
