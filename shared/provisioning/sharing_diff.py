"""The sharing diff: which recipients, shares, data objects and grants a plan creates, changes or removes.

Recipients are keyed by name, data objects by table name and alias (`shared_as`), grants by (share,
recipient). A recipient's type (D2O ↔ D2D) and a D2D recipient's metastore id cannot change in place:
conflicts. A D2O recipient's token expiry only applies when it is created (an existing token cannot be
extended).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from shared.provisioning.plan import SELECT, Action, Change, Draft, Entity
from shared.provisioning.workspace_state import (
    DATABRICKS,
    OIDC_FEDERATION,
    TOKEN,
    RecipientState,
    SharedObjectState,
    ShareState,
    WorkspaceState,
    normalize_comment,
)
from shared.share_pack_file.model import (
    Authentication,
    DataObjectSpec,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)


def desired_recipient(recipient: RecipientSpec) -> RecipientState:
    """Return the recipient the share pack declares, in workspace terms."""
    d2d = recipient.type is RecipientType.D2D
    authentication = DATABRICKS if d2d else _AUTHENTICATION_TYPES[recipient.authenticates_by]
    return RecipientState(
        name=recipient.name,
        authentication_type=authentication,
        data_recipient_global_metastore_id=recipient.metastore_id.lower() if d2d and recipient.metastore_id else None,
        allowed_ips=frozenset(ip.strip() for ip in recipient.allowed_ips) if authentication == TOKEN else frozenset(),
        comment=normalize_comment(recipient.comment),
        properties=tuple(sorted(recipient.properties.items())),
        federation_policies=tuple(sorted(recipient.federation_policies, key=lambda p: p.name)),
    )


def desired_object(data_object: DataObjectSpec) -> SharedObjectState:
    """Return the data object the share pack declares, in workspace terms."""
    return SharedObjectState(
        name=data_object.name,
        type=str(data_object.type),
        shared_as=data_object.shared_as,
        history=data_object.history,
        partitions=data_object.partitions,
        cdf_enabled=data_object.cdf_enabled,
        start_version=data_object.start_version,
    )


def recipient_differences(want: RecipientState, have: RecipientState) -> list[str]:
    """Return how an existing recipient differs from the declared one, as readable phrases (empty: equal).

    Compares the definition only: type (authentication), D2D metastore id, IP list (as a set), comment,
    properties and federation policies. Server-filled fields and the token expiry (a point in time fixed at
    creation) never count.
    """
    differences = []
    if have.authentication_type != want.authentication_type:
        if have.kind == want.kind:
            differences.append(f"authentication {have.authentication_type} instead of {want.authentication_type}")
        else:
            differences.append(f"type {have.kind} instead of {want.kind}")
    elif _metastore_differs(want, have):
        have_id, want_id = have.data_recipient_global_metastore_id, want.data_recipient_global_metastore_id
        differences.append(f"metastore {have_id} instead of {want_id}")
    if have.allowed_ips != want.allowed_ips:
        differences.append(f"allowed IPs {sorted(have.allowed_ips)} instead of {sorted(want.allowed_ips)}")
    if normalize_comment(have.comment) != normalize_comment(want.comment):
        differences.append(f"comment {have.comment!r} instead of {want.comment!r}")
    if have.properties != want.properties:
        differences.append(f"properties {dict(have.properties)} instead of {dict(want.properties)}")
    if have.federation_policies != want.federation_policies:
        names = sorted({p.name for p in have.federation_policies} | {p.name for p in want.federation_policies})
        differences.append(f"other federation policies ({', '.join(names)})")
    return differences


def _metastore_differs(want: RecipientState, have: RecipientState) -> bool:
    """Whether a D2D recipient points at another metastore (ids are lowercase on both sides)."""
    return (
        want.authentication_type == DATABRICKS
        and have.data_recipient_global_metastore_id != want.data_recipient_global_metastore_id
    )


#: The workspace's authentication type for each way a pack lets a recipient authenticate.
_AUTHENTICATION_TYPES = {Authentication.TOKEN: TOKEN, Authentication.DATABRICKS: DATABRICKS,
                         Authentication.OIDC_FEDERATION: OIDC_FEDERATION}

#: A D2O token's lifetime when the pack names none (Databricks' own default is the metastore's setting).
DEFAULT_TOKEN_EXPIRY_DAYS = 90


def plan_recipients(
    recipients: Iterable[RecipientSpec], actual: WorkspaceState, strategy: Strategy, draft: Draft, *, exact: bool
) -> None:
    for declared in recipients:
        want = desired_recipient(declared)
        have = actual.recipients.get(want.name)
        if have is None:
            _check_sharing_identifier(want, actual, draft)
            token = want.authentication_type == TOKEN  # an OIDC_FEDERATION recipient has no token to expire
            days = declared.token_expiry_days or (DEFAULT_TOKEN_EXPIRY_DAYS if token else None)
            new = {**want.describe(), "token_expiry_days": days}
            draft.add(Change(Entity.RECIPIENT, Action.CREATE, want.name, new=new))
            continue
        differences = recipient_differences(want, have)
        immutable = have.authentication_type != want.authentication_type or _metastore_differs(want, have)
        if immutable:
            draft.conflicts.append(
                f"recipient {want.name} already exists with "
                + ", ".join(differences)
                + "; a recipient's type and metastore cannot be changed in place (delete it first)"
            )
        elif strategy is Strategy.NEW and differences:
            draft.conflicts.append(f"recipient {want.name} already exists with " + ", ".join(differences))
        elif strategy is Strategy.NEW:
            draft.adopted.append(Change(Entity.RECIPIENT, Action.ADOPT, want.name, new=want.describe()))
            if want.authentication_type == TOKEN and not have.activated:
                draft.pending_activations.append(want.name)
        else:
            _update_recipient(want, have, draft, exact=exact)


def _check_sharing_identifier(want: RecipientState, actual: WorkspaceState, draft: Draft) -> None:
    """Flag a D2D recipient whose metastore already has a recipient under another name (one per id).

    The other recipient is not named: it may be another project's, and a plan never describes those.
    """
    if want.authentication_type != DATABRICKS:
        return
    if any(other.data_recipient_global_metastore_id == want.data_recipient_global_metastore_id
           for other in actual.recipients.values()):
        draft.conflicts.append(
            f"recipient {want.name}: metastore {want.data_recipient_global_metastore_id} already has a recipient "
            "under another name (a metastore can have only one recipient)"
        )


def _update_recipient(want: RecipientState, have: RecipientState, draft: Draft, *, exact: bool) -> None:
    """Plan the comment and IP list changes of an existing recipient.

    Unless ``exact``, an empty declared IP list or comment leaves the recipient's own. A D2D recipient has
    no IP list (Databricks accepts one on TOKEN recipients only), so there is nothing to restore there.
    """
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    have_comment = normalize_comment(have.comment)
    if (exact or want.comment is not None) and want.comment != have_comment:
        old["comment"], new["comment"] = have_comment, want.comment
    ips_apply = want.authentication_type == TOKEN and (exact or bool(want.allowed_ips))
    if ips_apply and want.allowed_ips != have.allowed_ips:
        old["allowed_ips"], new["allowed_ips"] = sorted(have.allowed_ips), sorted(want.allowed_ips)
    # Properties replace the whole map (RecipientsAPI.update); policies have no update, so `apply` deletes a
    # changed one and creates it again.
    if (exact or want.properties) and want.properties != have.properties:
        old["properties"], new["properties"] = dict(have.properties), dict(want.properties)
    if (exact or want.federation_policies) and want.federation_policies != have.federation_policies:
        old["federation_policies"] = [p.to_dict() for p in have.federation_policies]
        new["federation_policies"] = [p.to_dict() for p in want.federation_policies]
    if new:
        draft.add(Change(Entity.RECIPIENT, Action.UPDATE, want.name, old=old, new=new))


def plan_share(
    share: ShareSpec,
    actual: WorkspaceState,
    strategy: Strategy,
    draft: Draft,
    *,
    declared: Iterable[RecipientSpec],
    exact: bool = False,
) -> None:
    name = share.name
    want_objects = [desired_object(o) for o in share.data_objects]
    want_grantees = frozenset(share.recipients)
    comment = normalize_comment(share.comment)
    _check_aliases(name, want_objects, draft)
    _check_grantees(name, want_grantees, actual, draft, declared=frozenset(r.name for r in declared))
    have = actual.shares.get(name)
    if have is None:
        draft.add(Change(Entity.SHARE, Action.CREATE, name, new={"comment": comment}))
        have = ShareState(name=name)
    elif strategy is Strategy.NEW:
        if normalize_comment(have.comment) != comment:
            draft.conflicts.append(f"share {name} already exists with comment {have.comment!r} instead of {comment!r}")
            return
    elif (exact or comment is not None) and comment != normalize_comment(have.comment):
        draft.add(Change(Entity.SHARE, Action.UPDATE, name, old={"comment": have.comment}, new={"comment": comment}))
    removals, additions, kept = _diff_objects(want_objects, have, exact=exact)
    have_grantees = actual.grantees(name)
    if strategy is Strategy.NEW and name in actual.shares:
        extra = [f"data object {o.name}" + (f" as {o.alias}" if o.alias else "") for o in removals]
        extra += [f"a grant to {r}" for r in sorted(have_grantees - want_grantees)]
        if extra:
            draft.conflicts.append(f"share {name} already exists with " + ", ".join(extra) + " not in the share pack")
            return
        draft.adopted.append(Change(Entity.SHARE, Action.ADOPT, name, new={"comment": comment}))
    for want_obj, obj in kept:
        target = _updated_object(want_obj, obj, exact=exact)
        if target != obj and strategy is Strategy.NEW:
            draft.conflicts.append(f"share {name} already shares {obj.name} with other partitions, change data feed "
                                   "or start version")
        elif target != obj:
            draft.add(Change(Entity.DATA_OBJECT, Action.UPDATE, obj.name, share=name, old=obj.describe(),
                             new=target.describe()))
        elif strategy is Strategy.NEW:
            draft.adopted.append(Change(Entity.DATA_OBJECT, Action.ADOPT, obj.name, share=name, new=obj.describe()))
    for obj in removals:
        draft.add(Change(Entity.DATA_OBJECT, Action.REMOVE, obj.name, share=name, old=obj.describe()))
    for obj in additions:
        replaced = next((r for r in removals if r.name == obj.name), None)
        reason = {"replaces": _replace_reason(obj, replaced)} if replaced is not None else {}
        draft.add(Change(Entity.DATA_OBJECT, Action.ADD, obj.name, share=name, new={**obj.describe(), **reason}))
    for recipient in sorted(have_grantees - want_grantees):
        draft.add(Change(Entity.GRANT, Action.REVOKE, recipient, share=name, old={"privilege": SELECT}))
    for recipient in sorted(want_grantees - have_grantees):
        draft.add(Change(Entity.GRANT, Action.GRANT, recipient, share=name, new={"privilege": SELECT}))


def _diff_objects(
    want: Sequence[SharedObjectState], have: ShareState, *, exact: bool
) -> tuple[list[SharedObjectState], list[SharedObjectState], list[tuple[SharedObjectState, SharedObjectState]]]:
    """Return (to remove, to add, kept as (declared, shared) pairs): objects match by table name, then by
    any field the pack sets.

    An object whose declared type, alias or history differs from what is shared is replaced (removed,
    then added again): the alias identifies a shared table, so it cannot be changed in place. So is one
    whose partitions or start version an exact plan clears: an update cannot send "none"
    (`SharedDataObject.as_dict` leaves an empty list and a missing version out).
    """
    present = have.objects_named()
    used: set[SharedObjectState] = set()
    additions: list[SharedObjectState] = []
    kept: list[tuple[SharedObjectState, SharedObjectState]] = []
    seen: set[tuple[str, str | None]] = set()
    for obj in want:
        if (obj.name, obj.shared_as) in seen:
            continue  # declared twice: once is enough
        seen.add((obj.name, obj.shared_as))
        match = next(
            (
                candidate
                for candidate in present.get(obj.name, ())
                if candidate not in used and _matches(obj, candidate, exact=exact)
            ),
            None,
        )
        if match is None:
            additions.append(obj)
        else:
            used.add(match)
            kept.append((obj, match))
    removals = [obj for objs in present.values() for obj in objs if obj not in used]
    return removals, additions, kept


def _matches(want: SharedObjectState, have: SharedObjectState, *, exact: bool = False) -> bool:
    clears = exact and ((not want.partitions and bool(have.partitions))
                        or (want.start_version is None and have.start_version is not None))
    return (
        want.type == have.type
        and (want.shared_as is None or want.shared_as == have.alias)
        and (want.history is None or want.history == bool(have.history))
        and not clears
    )


def _updated_object(want: SharedObjectState, have: SharedObjectState, *, exact: bool) -> SharedObjectState:
    """Return what a kept object becomes: the partitions, change data feed and start version the pack sets
    (an UPDATE of the shared object), the rest as shared. Unset fields are left as they are, except that an
    exact plan turns an undeclared change data feed off."""
    cdf = have.cdf_enabled
    if want.cdf_enabled is not None and want.cdf_enabled != bool(have.cdf_enabled):
        cdf = want.cdf_enabled
    elif want.cdf_enabled is None and exact and have.cdf_enabled:
        cdf = False
    return dataclasses.replace(
        have,
        partitions=want.partitions or have.partitions,
        cdf_enabled=cdf,
        start_version=want.start_version if want.start_version is not None else have.start_version,
    )


def _replace_reason(want: SharedObjectState, have: SharedObjectState) -> str:
    """Say why an object is removed and added again rather than changed: what Databricks cannot change."""
    fields = [label for label, differs in (
        ("type", want.type != have.type),
        ("name shared as", want.shared_as is not None and want.shared_as != have.alias),
        ("history sharing", want.history is not None and want.history != bool(have.history)),
        ("partitions (cleared)", not want.partitions and bool(have.partitions)),
        ("start version (cleared)", want.start_version is None and have.start_version is not None),
    ) if differs]
    return "Databricks cannot change its " + (", ".join(fields) or "definition") + " in place"


def _check_aliases(share: str, objects: Sequence[SharedObjectState], draft: Draft) -> None:
    """Flag two declared objects that would be shared under the same alias (the server rejects it)."""
    owners: dict[str, str] = {}
    for obj in objects:
        alias = obj.alias
        if alias is None:
            continue
        if alias in owners and owners[alias] != obj.name:
            draft.conflicts.append(f"share {share}: {owners[alias]} and {obj.name} would both be shared as {alias}")
        owners.setdefault(alias, obj.name)


def _check_grantees(
    share: str, grantees: frozenset[str], actual: WorkspaceState, draft: Draft, *, declared: frozenset[str]
) -> None:
    for recipient in sorted(grantees - declared - set(actual.recipients)):
        draft.conflicts.append(
            f"share {share} is granted to recipient {recipient}, which the share pack does not declare "
            "and the workspace does not have"
        )


def plan_delete(spec: SharePackSpec, actual: WorkspaceState, draft: Draft) -> None:
    shares = [s.name for s in spec.shares if s.name in actual.shares]
    recipients = [r.name for r in spec.recipients if r.name in actual.recipients]
    doomed = set(recipients)
    for share in shares:
        for recipient in sorted(actual.grantees(share)):
            draft.add(Change(Entity.GRANT, Action.REVOKE, recipient, share=share, old={"privilege": SELECT}))
    for share, grantees in sorted(actual.grants.items()):
        if share in shares:
            continue
        for recipient in sorted(grantees & doomed):
            draft.add(Change(Entity.GRANT, Action.REVOKE, recipient, share=share, old={"privilege": SELECT}))
    for share in shares:
        state = actual.shares[share]
        old = {"comment": state.comment, "objects": sorted(o.name for o in state.objects)}
        draft.add(Change(Entity.SHARE, Action.DELETE, share, old=old))
    for recipient in recipients:
        draft.add(Change(Entity.RECIPIENT, Action.DELETE, recipient, old=actual.recipients[recipient].describe()))
