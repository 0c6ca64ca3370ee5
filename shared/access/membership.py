"""Group membership: local or synced `ad_groups` rows that list the principal, plus an Entra token's `groups`."""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from shared.access.principals import Principal
from shared.models import AdGroup


def member_of(session: Session, principal: Principal) -> frozenset[str]:
    """Every group the principal belongs to, lowercased: a local group by its name, a directory group by its
    object id only.

    Entra display names are neither unique nor protected, so a synced group's display name never stands for
    a group a tenant or project names; local groups (made by administrators) are named.
    """
    if principal.method == "entra":
        # Microsoft: authorize on `oid`, never on `preferred_username`/`upn` (a user can change those).
        names = {principal.key.lower(), (principal.object_id or "").lower()} - {""}
    else:
        names = {principal.identity.lower()}
    token_groups = {g.lower() for g in principal.token_groups}
    parameters: dict[str, object] = {f"name{index}": [name] for index, name in enumerate(sorted(names))}
    if token_groups:
        parameters["token_groups"] = sorted(principal.token_groups)
    rows = session.execute(_groups_statement(len(names), bool(token_groups)), parameters).all()
    groups = set(token_groups)
    for name, object_id in rows:
        groups.add(object_id.lower() if object_id else name.lower())
    return frozenset(groups)


def normalise_members(members: list[str]) -> list[str]:
    """Members as stored: trimmed, lowercased (identities compare case-insensitively), unique, sorted."""
    return sorted({m.strip().lower() for m in members if m.strip()})


@functools.cache
def _groups_statement(names: int, token_groups: bool) -> Select[tuple[str, str | None]]:
    """`member_of`'s query for one shape of principal, built once: every request loads the caller's groups, and
    building the statement cost more CPU than running it."""
    conditions = [AdGroup.members.contains(bindparam(f"name{index}")) for index in range(names)]
    if token_groups:
        conditions.append(AdGroup.ad_object_id.in_(bindparam("token_groups", expanding=True)))
    return select(AdGroup.group_name, AdGroup.ad_object_id).where(
        AdGroup.is_current, ~AdGroup.is_deleted, or_(*conditions)
    )
