"""Principals: the authenticated callers this service knows, independent of how they proved it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `identity` is what people read and what `created_by`/`requested_by` record: an API key's name, or an
    Entra user's `preferred_username`/`upn`. `key` never changes for one caller: the key name, or the Entra
    `tid`/`oid` pair (Microsoft: authorize on `oid`, never on e-mail-like claims).
    """

    identity: str
    key: str
    method: str  # "api_key" or "entra"
    is_admin: bool = False
    # Group object ids from an Entra token's `groups` claim; they count as membership.
    token_groups: frozenset[str] = field(default_factory=frozenset)
    object_id: str | None = None

    @classmethod
    def from_api_key(cls, name: str, *, admins: frozenset[str]) -> Principal:
        return cls(identity=name, key=f"key:{name}", method="api_key", is_admin=name.lower() in admins)

    @classmethod
    def from_entra(
        cls,
        *,
        tenant_id: str,
        object_id: str,
        identity: str,
        roles: frozenset[str],
        groups: frozenset[str],
        admins: frozenset[str],
    ) -> Principal:
        key = f"entra:{tenant_id}/{object_id}"
        is_admin = ADMIN_ROLE in roles or key.lower() in admins or object_id.lower() in admins
        return cls(
            identity=identity,
            key=key,
            method="entra",
            is_admin=is_admin,
            token_groups=groups,
            object_id=object_id,
        )


# The app role that makes an Entra principal a platform administrator.
ADMIN_ROLE = "ShareAdmin"
