"""Principals: the authenticated callers this service knows, independent of how they proved it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


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


def principal_from_entra_claims(
    claims: Mapping[str, Any],
    *,
    admins: frozenset[str],
    overage_groups: Callable[[str], frozenset[str]],
) -> Principal:
    """The principal of a validated Entra token: an API access token or the console's ID token.

    `overage_groups(oid)` reads the groups of a user whose token has too many to carry (`has_group_overage`).
    """
    object_id = str(claims["oid"])
    identity = claims.get("preferred_username") or claims.get("upn") or claims.get("azp") or claims.get("appid")
    if has_group_overage(claims):
        groups = overage_groups(object_id)
    else:
        groups = frozenset(g for g in claims.get("groups") or [] if isinstance(g, str))
    return Principal.from_entra(
        tenant_id=str(claims["tid"]),
        object_id=object_id,
        identity=str(identity or object_id),
        roles=frozenset(r for r in claims.get("roles") or [] if isinstance(r, str)),
        groups=groups,
        admins=admins,
    )


def has_group_overage(claims: Mapping[str, Any]) -> bool:
    """Whether the token left its groups out: `_claim_names.groups` (JWT above 200) or `hasgroups` (implicit flow).

    https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim
    """
    claim_names = claims.get("_claim_names")
    return (isinstance(claim_names, Mapping) and "groups" in claim_names) or claims.get("hasgroups") is True


# The app role that makes an Entra principal a platform administrator.
ADMIN_ROLE = "ShareAdmin"
