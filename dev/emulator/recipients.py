"""Delta Sharing recipients: D2O ``TOKEN`` recipients with their tokens and one-time activation links, and
D2D ``DATABRICKS`` recipients keyed by the other metastore's sharing identifier.

A TOKEN recipient has at most two active tokens and each activation link works once.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dev.emulator.errors import ApiError, does_not_exist, invalid_parameter
from dev.emulator.journal import Change
from dev.emulator.workspace_base import WorkspaceBase, drop_none, now_ms, paginate, validate_securable_name

MAX_IP_ACCESS_LIST_ENTRIES = 100
MAX_ACTIVE_TOKENS = 2
AUTHENTICATION_TYPES = frozenset({"TOKEN", "DATABRICKS", "OIDC_FEDERATION", "OAUTH_CLIENT_CREDENTIALS"})
# Open sharing (a credential handed to a non-Databricks client) is external sharing by definition.
OPEN_SHARING_AUTHENTICATION_TYPES = frozenset({"TOKEN", "OIDC_FEDERATION", "OAUTH_CLIENT_CREDENTIALS"})
_SHARING_IDENTIFIER = re.compile(
    r"^(?P<cloud>aws|azure|gcp):(?P<region>[a-z0-9-]+):"
    r"(?P<metastore_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


@dataclass
class RecipientToken:
    """One bearer token of a TOKEN recipient and its one-time activation link."""

    id: str
    activation_token: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    expiration_time: int | None = None
    retrieved: bool = False
    bearer_token: str | None = None

    def is_active(self, at_ms: int) -> bool:
        """Return whether the token has not expired at ``at_ms``."""
        return self.expiration_time is None or self.expiration_time > at_ms


@dataclass
class Recipient:
    """A Delta Sharing recipient (D2O ``TOKEN`` or D2D ``DATABRICKS``)."""

    name: str
    authentication_type: str
    owner: str
    id: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    comment: str | None = None
    expiration_time: int | None = None
    ip_access_list: list[str] | None = None
    properties: dict[str, str] | None = None
    data_recipient_global_metastore_id: str | None = None
    sharing_code: str | None = None
    activated: bool = False
    tokens: list[RecipientToken] = field(default_factory=list)
    # OIDC_FEDERATION recipients: policy name → FederationPolicy payload (`dev.emulator.federation`).
    federation_policies: dict[str, dict[str, Any]] | None = None


def recipient_json(recipient: Recipient) -> dict[str, Any]:
    """Return a recipient as JSON-ready data (sharing the live values: serialise it at once)."""
    return {**vars(recipient), "tokens": [vars(token) for token in recipient.tokens]}


def recipient_from_json(data: Mapping[str, Any]) -> Recipient:
    tokens = [RecipientToken(**token) for token in data.get("tokens", [])]
    return Recipient(**{**data, "tokens": tokens})


class RecipientsMixin(WorkspaceBase):
    """The recipient operations of the workspace, and the public activation endpoints."""

    def _recipient_change(self, name: str) -> Change:
        recipient = self.recipients.get(name)
        return Change("recipient", name, recipient_json(recipient) if recipient is not None else None)

    def _recipient(self, name: str) -> Recipient:
        recipient = self.recipients.get(name.lower())
        if recipient is None:
            raise self._not_found("recipient", f"Recipient '{name}' does not exist.")
        return recipient

    def activation_url(self, token: RecipientToken) -> str:
        """Return the link a D2O recipient opens to download its credential file."""
        return f"{self.public_url}/delta_sharing/retrieve_config.html?{token.activation_token}"

    def recipient_info(self, recipient: Recipient) -> dict[str, Any]:
        """Return the full RecipientInfo payload."""
        info: dict[str, Any] = {
            "name": recipient.name,
            "authentication_type": recipient.authentication_type,
            "owner": recipient.owner,
            "comment": recipient.comment,
            "id": recipient.id,
            "created_at": recipient.created_at,
            "created_by": recipient.created_by,
            "updated_at": recipient.updated_at,
            "updated_by": recipient.updated_by,
            "activated": recipient.activated,
            # The recipient's expiry is its newest token's when no explicit one was set.
            "expiration_time": recipient.expiration_time
            or (recipient.tokens[-1].expiration_time if recipient.tokens else None),
            "properties_kvpairs": (
                {"properties": dict(recipient.properties)} if recipient.properties is not None else None
            ),
            "ip_access_list": (
                {"allowed_ip_addresses": list(recipient.ip_access_list)} if recipient.ip_access_list else None
            ),
            "metastore_id": self.metastore.metastore_id if recipient.authentication_type != "DATABRICKS" else None,
        }
        if recipient.authentication_type == "DATABRICKS":
            match = _SHARING_IDENTIFIER.match(recipient.data_recipient_global_metastore_id or "")
            info["data_recipient_global_metastore_id"] = recipient.data_recipient_global_metastore_id
            info["sharing_code"] = recipient.sharing_code
            if match:
                info.update(match.groupdict())
        if recipient.authentication_type == "TOKEN":
            info["tokens"] = [self._token_info(token) for token in recipient.tokens]
            pending = [t for t in recipient.tokens if not t.retrieved and t.is_active(now_ms())]
            info["activation_url"] = self.activation_url(pending[-1]) if pending else ""
        return drop_none(info)

    def _token_info(self, token: RecipientToken) -> dict[str, Any]:
        return drop_none(
            {
                "id": token.id,
                "activation_url": "" if token.retrieved else self.activation_url(token),
                "expiration_time": token.expiration_time,
                "created_at": token.created_at,
                "created_by": token.created_by,
                "updated_at": token.updated_at,
                "updated_by": token.updated_by,
            }
        )

    def _new_token(self, *, caller: str, expiration_time: int | None) -> RecipientToken:
        at = now_ms()
        if expiration_time is None:
            lifetime = self.metastore.delta_sharing_recipient_token_lifetime_in_seconds
            expiration_time = at + lifetime * 1000 if lifetime else None
        return RecipientToken(
            id=str(uuid.uuid4()),
            activation_token=secrets.token_urlsafe(24),
            created_at=at,
            created_by=caller,
            updated_at=at,
            updated_by=caller,
            expiration_time=expiration_time,
        )

    @staticmethod
    def _ip_access_list(value: Any) -> list[str] | None:
        """Validate ``{"allowed_ip_addresses": [...]}``; ``{}`` or an empty list clears the list.

        The SDK drops an empty list, so a clearing arrives as ``{"ip_access_list": {}}``; see
        https://docs.databricks.com/api/workspace/recipients/update (``ip_access_list``).
        """
        if not isinstance(value, Mapping):
            raise invalid_parameter("ip_access_list must be an object")
        addresses = value.get("allowed_ip_addresses") or []
        if not isinstance(addresses, list):
            raise invalid_parameter("ip_access_list.allowed_ip_addresses must be a list")
        if len(addresses) > MAX_IP_ACCESS_LIST_ENTRIES:
            raise invalid_parameter(
                f"ip_access_list can contain at most {MAX_IP_ACCESS_LIST_ENTRIES} entries, got {len(addresses)}"
            )
        for address in addresses:
            try:
                ipaddress.IPv4Network(str(address), strict=False)
            except ValueError as exc:
                raise invalid_parameter(f"Invalid IP address or CIDR range: '{address}'") from exc
        return list(addresses) or None

    @staticmethod
    def _properties(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping) or not isinstance(value.get("properties", {}), Mapping):
            raise invalid_parameter('properties_kvpairs must be {"properties": {key: value}}')
        for key in value.get("properties", {}):
            # Keys under 'databricks.' are predefined and set by Databricks only
            # (https://docs.databricks.com/en/delta-sharing/manage-recipients.html#manage-recipient-properties).
            if str(key).lower().startswith("databricks."):
                raise invalid_parameter(f"Recipient property '{key}' is reserved: 'databricks.' properties are "
                                        "predefined")
        return {str(k): str(v) for k, v in value.get("properties", {}).items()}

    @staticmethod
    def _expiration_time(value: Any) -> int:
        try:
            expiration = int(value)
        except (TypeError, ValueError) as exc:
            raise invalid_parameter(f"Invalid expiration_time: {value!r}") from exc
        if expiration <= now_ms():
            raise invalid_parameter("expiration_time must be in the future")
        return expiration

    def create_recipient(self, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Create a recipient (``POST recipients``)."""
        with self._lock:
            name = validate_securable_name(body.get("name"), operation="CreateRecipient")
            auth_type = body.get("authentication_type")
            if not auth_type:
                raise invalid_parameter("CreateRecipient Missing required field: authentication_type")
            if auth_type not in AUTHENTICATION_TYPES:
                raise invalid_parameter(f"Invalid authentication_type: {auth_type}")
            if (
                auth_type in OPEN_SHARING_AUTHENTICATION_TYPES
                and self.metastore.delta_sharing_scope != "INTERNAL_AND_EXTERNAL"
            ):
                # The text Databricks answers (terraform-provider-databricks#4350); FEATURE_DISABLED is the
                # code its audit log documents for sharing that is not enabled. Databricks-to-Databricks
                # recipients stay allowed: the emulator cannot tell another account's metastore from ours.
                raise ApiError(
                    400,
                    "FEATURE_DISABLED",
                    "External Delta Sharing is not enabled on the metastore. "
                    "Please contact the account admin to enable External Delta Sharing.",
                )
            if name in self.recipients:
                raise self._exists("recipient", f"Recipient {name} already exists")
            sharing_id = body.get("data_recipient_global_metastore_id")
            if auth_type == "DATABRICKS":
                sharing_id = self._check_sharing_identifier(sharing_id)
            elif sharing_id is not None:
                raise invalid_parameter("data_recipient_global_metastore_id can only be set for DATABRICKS recipients")
            ip_access_list = None
            if body.get("ip_access_list") is not None:
                if auth_type != "TOKEN":
                    raise invalid_parameter("IP access lists can only be set on TOKEN recipients")
                ip_access_list = self._ip_access_list(body["ip_access_list"])
            expiration = body.get("expiration_time")
            expiration = self._expiration_time(expiration) if expiration is not None else None
            at = now_ms()
            recipient = Recipient(
                name=name,
                authentication_type=auth_type,
                owner=body.get("owner") or caller,
                id=str(uuid.uuid4()),
                created_at=at,
                created_by=caller,
                updated_at=at,
                updated_by=caller,
                comment=body.get("comment"),
                expiration_time=expiration,
                ip_access_list=ip_access_list,
                properties=(self._properties(body["properties_kvpairs"]) if body.get("properties_kvpairs") else None),
                data_recipient_global_metastore_id=sharing_id,
                sharing_code=body.get("sharing_code") if auth_type == "DATABRICKS" else None,
                activated=auth_type == "DATABRICKS",
            )
            if auth_type == "TOKEN":
                recipient.tokens.append(self._new_token(caller=caller, expiration_time=expiration))
            self.recipients[name] = recipient
            self._record(self._recipient_change(name))
            return self.recipient_info(recipient)

    def _check_sharing_identifier(self, sharing_id: Any) -> str:
        """Validate a D2D sharing identifier and enforce one recipient per identifier."""
        if not sharing_id:
            raise invalid_parameter("CreateRecipient Missing required field: data_recipient_global_metastore_id")
        normalized = str(sharing_id).lower()
        if not _SHARING_IDENTIFIER.match(normalized):
            raise invalid_parameter(f"Cannot resolve target shard for sharing identifier '{sharing_id}'")
        for other in self.recipients.values():
            if other.data_recipient_global_metastore_id == normalized:
                raise self._exists(
                    "recipient",
                    f"There is already a Recipient object '{other.name}' with the same sharing identifier "
                    f"'{normalized}'",
                )
        return normalized

    def get_recipient(self, name: str) -> dict[str, Any]:
        """Return ``GET recipients/{name}``."""
        with self._lock:
            return self.recipient_info(self._recipient(name))

    def list_recipients(
        self, *, sharing_identifier: str | None, max_results: int | None, page_token: str | None
    ) -> dict[str, Any]:
        """Return ``GET recipients``, optionally filtered by D2D sharing identifier."""
        with self._lock:
            recipients = list(self.recipients.values())
            if sharing_identifier:
                wanted = sharing_identifier.lower()
                recipients = [r for r in recipients if r.data_recipient_global_metastore_id == wanted]
            page, token = paginate(
                recipients,
                key=lambda r: r.name,
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return drop_none({"recipients": [self.recipient_info(r) for r in page], "next_page_token": token})

    def update_recipient(self, name: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Apply ``PATCH recipients/{name}``; ``properties_kvpairs`` replaces the whole map."""
        with self._lock:
            recipient = copy.deepcopy(self._recipient(name))
            if body.get("ip_access_list") is not None:
                if recipient.authentication_type != "TOKEN":
                    raise invalid_parameter("IP access lists can only be set on TOKEN recipients")
                recipient.ip_access_list = self._ip_access_list(body["ip_access_list"])
            if body.get("properties_kvpairs") is not None:
                recipient.properties = self._properties(body["properties_kvpairs"]) or None
            if body.get("comment") is not None:
                recipient.comment = body["comment"]
            if body.get("owner") is not None:
                recipient.owner = body["owner"]
            if body.get("expiration_time") is not None:
                recipient.expiration_time = self._expiration_time(body["expiration_time"])
                # Only the newest token follows: an older one shortened by a rotation must stay short.
                if recipient.tokens and recipient.tokens[-1].is_active(now_ms()):
                    recipient.tokens[-1].expiration_time = recipient.expiration_time
            old_name = recipient.name
            if body.get("new_name") is not None:
                new_name = validate_securable_name(body["new_name"], operation="UpdateRecipient")
                if new_name != old_name and new_name in self.recipients:
                    raise self._exists("recipient", f"Recipient {new_name} already exists")
                recipient.name = new_name
            recipient.updated_at, recipient.updated_by = now_ms(), caller
            del self.recipients[old_name]
            self.recipients[recipient.name] = recipient
            changes = [self._recipient_change(old_name), self._recipient_change(recipient.name)]
            if recipient.name != old_name:
                for share_name, grants in self.grants.items():
                    if old_name in grants:
                        grants[recipient.name] = grants.pop(old_name)
                        changes.append(self._grants_change(share_name))
            self._record(*changes)
            return self.recipient_info(recipient)

    def delete_recipient(self, name: str) -> None:
        """Delete a recipient and every grant to it."""
        with self._lock:
            recipient = self._recipient(name)
            del self.recipients[recipient.name]
            changes = [self._recipient_change(recipient.name)]
            for share_name, grants in self.grants.items():
                if grants.pop(recipient.name, None) is not None:
                    changes.append(self._grants_change(share_name))
            self._record(*changes)

    def rotate_token(self, name: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Shorten the current tokens to now + ``existing_token_expire_in_seconds`` and issue a new one."""
        with self._lock:
            recipient = self._recipient(name)
            if recipient.authentication_type != "TOKEN":
                raise invalid_parameter(f"Cannot rotate token for recipient {recipient.name}: not a TOKEN recipient")
            seconds = body.get("existing_token_expire_in_seconds")
            if seconds is None:
                raise invalid_parameter("RotateRecipientToken Missing required field: existing_token_expire_in_seconds")
            if not isinstance(seconds, int) or seconds < 0:
                raise invalid_parameter("existing_token_expire_in_seconds must be a non-negative integer")
            at = now_ms()
            active = [token for token in recipient.tokens if token.is_active(at)]
            if len(active) >= MAX_ACTIVE_TOKENS:
                raise invalid_parameter(f"There are already two active tokens for recipient {recipient.name}")
            new_expiry = at + seconds * 1000
            for token in active:
                if token.expiration_time is None or new_expiry < token.expiration_time:
                    token.expiration_time = new_expiry
                    token.updated_at, token.updated_by = at, caller
            explicit = recipient.expiration_time if (recipient.expiration_time or 0) > at else None
            recipient.tokens.append(self._new_token(caller=caller, expiration_time=explicit))
            recipient.updated_at, recipient.updated_by = at, caller
            self._record(self._recipient_change(recipient.name))
            return self.recipient_info(recipient)

    def _find_activation(self, activation_token: str) -> tuple[Recipient, RecipientToken]:
        for recipient in self.recipients.values():
            for token in recipient.tokens:
                if token.activation_token == activation_token and not token.retrieved:
                    return recipient, token
        raise does_not_exist(
            "resource",
            "Activation URL is invalid or the credential has already been retrieved",
            style="canonical",
        )

    def activation_info(self, activation_token: str) -> dict[str, Any]:
        """Return ``GET public/data_sharing_activation_info/{token}`` (no side effect)."""
        with self._lock:
            self._find_activation(activation_token)
            return {}

    def retrieve_token(self, activation_token: str) -> dict[str, Any]:
        """Hand out the credential of an activation link, once; the link is dead afterwards."""
        with self._lock:
            recipient, token = self._find_activation(activation_token)
            metastore_id = self.metastore.metastore_id
            if not token.is_active(now_ms()):
                raise ApiError(400, "INVALID_STATE", f"The activation link for recipient {recipient.name} has expired")
            token.retrieved = True
            token.bearer_token = secrets.token_urlsafe(32)
            recipient.activated = True
            self._record(self._recipient_change(recipient.name))
            expires = (
                datetime.fromtimestamp(token.expiration_time / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if token.expiration_time is not None
                else None
            )
            return drop_none(
                {
                    "shareCredentialsVersion": 1,
                    "bearerToken": token.bearer_token,
                    "endpoint": f"{self.public_url}/api/2.0/delta-sharing/metastores/{metastore_id}",
                    "expirationTime": expires,
                }
            )
