"""The plan: what must change in a workspace for it to match a share pack. Pure — no I/O.

`make_plan` diffs the share pack against a `WorkspaceState` as *sets*: recipients and shares keyed by name,
data objects keyed by table name and alias (`shared_as`), grants keyed by (share, recipient). Ordering and
server-filled fields can therefore never cause a change, and a field the pack leaves unset is "don't care"
(reference pain point 1). The plan is stored with the share pack and served to users, so it is JSON-able
(`Plan.to_dict` / `Plan.from_dict`) and never holds a secret.

Strategies:

* NEW creates everything. A name that exists with a different definition is a *conflict* (the plan must not
  be applied; we never silently switch to UPDATE). What already matches — an earlier attempt of this very
  share pack — is *adopted*: an existing share holding a subset of the declared objects and grants is
  completed, so a retry after a crash converges.
* UPDATE makes every recipient and share the pack names match it: objects and grants no longer listed are
  removed, IP lists and comments updated; whatever the pack does not name is untouched; a named recipient
  or share that does not exist is created. An empty IP list or a missing comment means "leave as is"
  (clearing an IP list opens the recipient to the internet, so it is never implied by an omission).
* An *exact* UPDATE (``make_plan(..., exact=True)``, what a rollback restores with) makes the named
  recipients and shares equal to the pack: IP lists become exactly the declared set, cleared when it
  declares none, and comments are restored or cleared. The plan spells a clearing out (``new`` holds
  ``allowed_ips: []``), so whoever reads the plan sees the recipient opened to any address.
* DELETE removes the named shares and recipients, revoking their grants first; missing ones are no-ops.

A recipient's type (D2O ↔ D2D) and a D2D recipient's metastore id cannot change in place: conflicts.
A D2O recipient's token expiry only applies when it is created (an existing token cannot be extended).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.provisioning.pipeline_state import PipelineState, ScheduleState, desired_pipeline
from shared.provisioning.workspace_state import (
    DATABRICKS,
    TOKEN,
    RecipientState,
    SharedObjectState,
    ShareState,
    WorkspaceState,
    normalize_comment,
)
from shared.share_pack_file.model import (
    DataObjectSpec,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

#: The most object updates one `PATCH shares/{name}` accepts.
MAX_UPDATES_PER_CALL = 100
#: The only privilege a share grants to a recipient.
SELECT = "SELECT"


class Section(StrEnum):
    """The sections of a plan, in the order NEW and UPDATE carry them out.

    Each is carried out by one step of the job (`shared.provisioning.steps`). A DELETE runs them in
    reverse: revoke grants, (no object changes: objects go with their share), delete shares, then
    recipients; a recipient cannot be deleted while a share still grants it access.
    """

    RECIPIENTS = "recipients"
    SHARES = "shares"
    DATA_OBJECTS = "data_objects"
    GRANTS = "grants"
    PIPELINES = "pipelines"
    SCHEDULES = "schedules"


def sections_in_order(strategy: Strategy) -> tuple[Section, ...]:
    """Return the plan's sections in the order the strategy carries them out."""
    forward = tuple(Section)
    return tuple(reversed(forward)) if strategy is Strategy.DELETE else forward


class Entity(StrEnum):
    """What a change is about (the audit row's entity type)."""

    RECIPIENT = "recipient"
    SHARE = "share"
    DATA_OBJECT = "data_object"
    GRANT = "grant"
    PIPELINE = "pipeline"
    SCHEDULE = "schedule"


class Action(StrEnum):
    """What a change does."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADD = "add"
    REMOVE = "remove"
    GRANT = "grant"
    REVOKE = "revoke"
    ADOPT = "adopt"  # exists already exactly as declared: nothing to do
    # Delete, then create again: only a rollback's restore does it, to a pipeline whose immutable fields differ.
    REPLACE = "replace"


_SECTION_OF_ENTITY = {
    Entity.RECIPIENT: Section.RECIPIENTS,
    Entity.SHARE: Section.SHARES,
    Entity.DATA_OBJECT: Section.DATA_OBJECTS,
    Entity.GRANT: Section.GRANTS,
    Entity.PIPELINE: Section.PIPELINES,
    Entity.SCHEDULE: Section.SCHEDULES,
}


@dataclass(frozen=True)
class Change:
    """One change to one object; also the shape of an audit row.

    ``name`` is the recipient, share or data object name; for a grant it is the recipient and ``share`` the
    share; for a data object ``share`` is the share it belongs to. ``old``/``new`` hold the values before
    and after (JSON-able; for a create ``new`` is the whole definition, for a delete ``old`` is).
    """

    entity: Entity
    action: Action
    name: str
    share: str | None = None
    old: Mapping[str, Any] = field(default_factory=dict)
    new: Mapping[str, Any] = field(default_factory=dict)

    @property
    def section(self) -> Section:
        """Return the plan section this change belongs to."""
        return _SECTION_OF_ENTITY[self.entity]

    def describe(self) -> str:
        """Return a one-line human description, e.g. ``add data_object c.s.t in share sales``."""
        if self.entity is Entity.GRANT:
            return f"{self.action} SELECT on share {self.share} for recipient {self.name}"
        if self.entity is Entity.SCHEDULE:
            return f"{self.action} the schedule of pipeline {self.name}"
        if self.action is Action.REPLACE:
            return f"remove {self.entity} {self.name}, then create it again" + (
                f" in share {self.share}" if self.share else "")
        text = f"{self.action} {self.entity} {self.name}" + (f" in share {self.share}" if self.share else "")
        if self.widens_ip_access:
            cleared = not self.new["allowed_ips"]
            text += " (clears its IP access list: any address may connect)" if cleared else " (allows more IPs)"
        return text

    @property
    def widens_ip_access(self) -> bool:
        """Whether this recipient update lets more addresses connect: its IP list is cleared or gains one.

        A recipient without an IP list accepts any address already, so nothing can widen it.
        """
        if self.entity is not Entity.RECIPIENT or self.action is not Action.UPDATE or "allowed_ips" not in self.new:
            return False
        before, after = set(self.old.get("allowed_ips") or ()), set(self.new["allowed_ips"] or ())
        return bool(before) and (not after or bool(after - before))

    def recipient(self) -> RecipientState:
        """Return the recipient a recipient CREATE makes (token expiry is added by `apply`)."""
        values = self.new
        return RecipientState(
            name=self.name,
            authentication_type=values["authentication_type"],
            data_recipient_global_metastore_id=values.get("data_recipient_global_metastore_id"),
            allowed_ips=frozenset(values.get("allowed_ips") or ()),
            comment=values.get("comment"),
        )

    def data_object(self) -> SharedObjectState:
        """Return the object an ADD adds or a REMOVE removes."""
        values = self.new if self.action is Action.ADD else self.old
        return SharedObjectState(
            name=self.name,
            type=values.get("type") or "TABLE",
            shared_as=values.get("shared_as"),
            history=values.get("history"),
        )

    def pipeline(self) -> PipelineState:
        """Return the pipeline a pipeline CREATE, UPDATE or REPLACE makes (its definition is in ``new``)."""
        return PipelineState.from_definition(self.name, self.new, schedule=self.new.get("schedule"))

    @property
    def pipeline_id(self) -> str | None:
        """The Databricks id of the pipeline a pipeline or schedule change is about, when known."""
        return self.new.get("pipeline_id") or self.old.get("pipeline_id")

    @property
    def job_id(self) -> int | None:
        """The id of the schedule job a change is about, when known (None: it has none, or not known)."""
        job_id = self.old.get("job_id", self.new.get("job_id"))
        return int(job_id) if job_id is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-able data."""
        data: dict[str, Any] = {"entity": str(self.entity), "action": str(self.action), "name": self.name}
        if self.share is not None:
            data["share"] = self.share
        if self.old:
            data["old"] = dict(self.old)
        if self.new:
            data["new"] = dict(self.new)
        if self.widens_ip_access:  # for approvers: this change opens the recipient to more addresses
            data["widens_access"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """Rebuild a change from `to_dict` output."""
        return cls(
            entity=Entity(data["entity"]),
            action=Action(data["action"]),
            name=data["name"],
            share=data.get("share"),
            old=dict(data.get("old") or {}),
            new=dict(data.get("new") or {}),
        )


@dataclass(frozen=True)
class Plan:
    """What applying a share pack will create, change and remove, step by step.

    Attributes:
        strategy: the share pack's strategy.
        changes: every change, in the order the sections are carried out (within a share: removals first).
        adopted: objects found already exactly as declared (shown to users, nothing to do).
        conflicts: why the plan must not be applied (readable sentences); empty when it can be.
        pending_activations: adopted D2O recipients whose activation link was never downloaded — an earlier
            attempt created them and may have died before the link was delivered, so `apply` fetches it again.
    """

    strategy: Strategy
    changes: tuple[Change, ...] = ()
    adopted: tuple[Change, ...] = ()
    conflicts: tuple[str, ...] = ()
    pending_activations: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether the workspace already matches the share pack (nothing to change)."""
        return not self.changes

    @property
    def can_apply(self) -> bool:
        """Whether the plan is free of conflicts."""
        return not self.conflicts

    @property
    def sections(self) -> tuple[Section, ...]:
        """Return the sections in the order to carry them out (reversed for DELETE)."""
        return sections_in_order(self.strategy)

    def changes_for(self, section: Section | str) -> tuple[Change, ...]:
        """Return the changes of one section, in order."""
        try:
            wanted = Section(section)
        except ValueError:
            raise ValueError(f"unknown plan section {section!r}; expected one of {[str(s) for s in Section]}") from None
        return tuple(change for change in self.changes if change.section is wanted)

    def summary(self) -> dict[str, int]:
        """Return counts per entity and action (e.g. ``data_object_add: 250``) plus adopted and conflicts."""
        counts: dict[str, int] = {}
        for change in self.changes:
            key = f"{change.entity}_{change.action}"
            counts[key] = counts.get(key, 0) + 1
        counts["adopted"] = len(self.adopted)
        counts["conflicts"] = len(self.conflicts)
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-able data: summary, changes grouped by step, adopted, conflicts."""
        return {
            "strategy": str(self.strategy),
            "summary": self.summary(),
            "steps": {str(section): [c.to_dict() for c in self.changes_for(section)] for section in self.sections},
            "adopted": [c.to_dict() for c in self.adopted],
            "conflicts": list(self.conflicts),
            "pending_activations": list(self.pending_activations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from `to_dict` output."""
        strategy = Strategy(data["strategy"])
        steps = data.get("steps") or {}
        return cls(
            strategy=strategy,
            changes=tuple(
                Change.from_dict(c) for section in sections_in_order(strategy) for c in steps.get(section, ())
            ),
            adopted=tuple(Change.from_dict(c) for c in data.get("adopted", ())),
            conflicts=tuple(data.get("conflicts", ())),
            pending_activations=tuple(data.get("pending_activations", ())),
        )


# -- the diff -------------------------------------------------------------------------------------------


def make_plan(share_pack: SharePackSpec, actual: WorkspaceState, *, exact: bool = False) -> Plan:
    """Return the plan that makes ``actual`` match ``share_pack`` under the pack's strategy.

    ``exact`` (UPDATE only) restores the declared definitions as they are: an empty IP list or a missing
    comment clears the workspace's instead of leaving it as is.
    """
    draft = _Draft()
    strategy = share_pack.metadata.strategy
    if strategy is Strategy.DELETE:
        _plan_delete(share_pack, actual, draft)
    else:
        _plan_recipients(share_pack.recipients, actual, strategy, draft, exact=exact)
        for share in share_pack.shares:
            _plan_share(share, actual, strategy, draft, declared=share_pack.recipients, exact=exact)
        _plan_pipelines(share_pack, actual, strategy, draft, exact=exact)
    return draft.plan(strategy)


def make_rollback_plan(restore: SharePackSpec, remove: SharePackSpec, actual: WorkspaceState) -> Plan:
    """Return the plan that takes a workspace back to a configuration: ``restore`` (an UPDATE to that
    configuration: what it had is re-created or restored exactly, IP lists and comments included) plus
    ``remove`` (a DELETE of what later configurations added).

    Both run in forward step order: deleting a recipient or share takes its grants with it, so the
    revokes that follow find them gone, which `apply` counts as done.
    """
    if restore.metadata.strategy is not Strategy.UPDATE or remove.metadata.strategy is not Strategy.DELETE:
        raise ValueError("a rollback restores with an UPDATE and removes with a DELETE")
    plans = (make_plan(restore, actual, exact=True), make_plan(remove, actual))
    seen: set[tuple[str, str, str, str | None]] = set()
    by_section: dict[Section, list[Change]] = {section: [] for section in Section}
    for plan in plans:
        for change in plan.changes:
            identity = (change.entity, change.action, change.name, change.share)
            if identity not in seen:
                seen.add(identity)
                by_section[change.section].append(change)
    return Plan(
        strategy=Strategy.UPDATE,
        changes=tuple(change for section in sections_in_order(Strategy.UPDATE) for change in by_section[section]),
        adopted=tuple(c for plan in plans for c in plan.adopted),
        conflicts=tuple(c for plan in plans for c in plan.conflicts),
        pending_activations=tuple(name for plan in plans for name in plan.pending_activations),
    )


@dataclass
class _Draft:
    """Changes collected per section while diffing, assembled in the strategy's order at the end."""

    by_section: dict[Section, list[Change]] = field(default_factory=lambda: {section: [] for section in Section})
    adopted: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    pending_activations: list[str] = field(default_factory=list)

    def add(self, change: Change) -> None:
        self.by_section[change.section].append(change)

    def plan(self, strategy: Strategy) -> Plan:
        return Plan(
            strategy=strategy,
            changes=tuple(change for section in sections_in_order(strategy) for change in self.by_section[section]),
            adopted=tuple(self.adopted),
            conflicts=tuple(self.conflicts),
            pending_activations=tuple(self.pending_activations),
        )


def desired_recipient(recipient: RecipientSpec) -> RecipientState:
    """Return the recipient the share pack declares, in workspace terms."""
    d2d = recipient.type is RecipientType.D2D
    return RecipientState(
        name=recipient.name,
        authentication_type=DATABRICKS if d2d else TOKEN,
        data_recipient_global_metastore_id=recipient.metastore_id.lower() if d2d and recipient.metastore_id else None,
        allowed_ips=frozenset() if d2d else frozenset(ip.strip() for ip in recipient.allowed_ips),
        comment=normalize_comment(recipient.comment),
    )


def desired_object(data_object: DataObjectSpec) -> SharedObjectState:
    """Return the data object the share pack declares, in workspace terms."""
    return SharedObjectState(
        name=data_object.name,
        type=str(data_object.type),
        shared_as=data_object.shared_as,
        history=data_object.history,
    )


def recipient_differences(want: RecipientState, have: RecipientState) -> list[str]:
    """Return how an existing recipient differs from the declared one, as readable phrases (empty: equal).

    Compares the definition only: type, D2D metastore id, IP list (as a set) and comment. Server-filled
    fields and the token expiry (a point in time fixed at creation) never count.
    """
    differences = []
    if have.authentication_type != want.authentication_type:
        differences.append(f"type {have.kind} instead of {want.kind}")
    elif _metastore_differs(want, have):
        have_id, want_id = have.data_recipient_global_metastore_id, want.data_recipient_global_metastore_id
        differences.append(f"metastore {have_id} instead of {want_id}")
    if have.allowed_ips != want.allowed_ips:
        differences.append(f"allowed IPs {sorted(have.allowed_ips)} instead of {sorted(want.allowed_ips)}")
    if normalize_comment(have.comment) != normalize_comment(want.comment):
        differences.append(f"comment {have.comment!r} instead of {want.comment!r}")
    return differences


def _metastore_differs(want: RecipientState, have: RecipientState) -> bool:
    """Whether a D2D recipient points at another metastore (ids are lowercase on both sides)."""
    return (
        want.authentication_type == DATABRICKS
        and have.data_recipient_global_metastore_id != want.data_recipient_global_metastore_id
    )


#: A D2O token's lifetime when the pack names none (Databricks' own default is the metastore's setting).
DEFAULT_TOKEN_EXPIRY_DAYS = 90


def _plan_recipients(
    recipients: Iterable[RecipientSpec], actual: WorkspaceState, strategy: Strategy, draft: _Draft, *, exact: bool
) -> None:
    for declared in recipients:
        want = desired_recipient(declared)
        have = actual.recipients.get(want.name)
        if have is None:
            _check_sharing_identifier(want, actual, draft)
            days = declared.token_expiry_days or (DEFAULT_TOKEN_EXPIRY_DAYS if want.kind == "D2O" else None)
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


def _check_sharing_identifier(want: RecipientState, actual: WorkspaceState, draft: _Draft) -> None:
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


def _update_recipient(want: RecipientState, have: RecipientState, draft: _Draft, *, exact: bool) -> None:
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
    if new:
        draft.add(Change(Entity.RECIPIENT, Action.UPDATE, want.name, old=old, new=new))


def _plan_share(
    share: ShareSpec,
    actual: WorkspaceState,
    strategy: Strategy,
    draft: _Draft,
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
    removals, additions, kept = _diff_objects(want_objects, have)
    have_grantees = actual.grantees(name)
    if strategy is Strategy.NEW and name in actual.shares:
        extra = [f"data object {o.name}" + (f" as {o.alias}" if o.alias else "") for o in removals]
        extra += [f"a grant to {r}" for r in sorted(have_grantees - want_grantees)]
        if extra:
            draft.conflicts.append(f"share {name} already exists with " + ", ".join(extra) + " not in the share pack")
            return
        draft.adopted.append(Change(Entity.SHARE, Action.ADOPT, name, new={"comment": comment}))
    for obj in kept:
        if strategy is Strategy.NEW:
            draft.adopted.append(Change(Entity.DATA_OBJECT, Action.ADOPT, obj.name, share=name, new=obj.describe()))
    for obj in removals:
        draft.add(Change(Entity.DATA_OBJECT, Action.REMOVE, obj.name, share=name, old=obj.describe()))
    for obj in additions:
        draft.add(Change(Entity.DATA_OBJECT, Action.ADD, obj.name, share=name, new=obj.describe()))
    for recipient in sorted(have_grantees - want_grantees):
        draft.add(Change(Entity.GRANT, Action.REVOKE, recipient, share=name, old={"privilege": SELECT}))
    for recipient in sorted(want_grantees - have_grantees):
        draft.add(Change(Entity.GRANT, Action.GRANT, recipient, share=name, new={"privilege": SELECT}))


def _diff_objects(
    want: Sequence[SharedObjectState], have: ShareState
) -> tuple[list[SharedObjectState], list[SharedObjectState], list[SharedObjectState]]:
    """Return (to remove, to add, kept): objects match by table name, then by any field the pack sets.

    An object whose declared type, alias or history differs from what is shared is replaced (removed,
    then added again): the alias identifies a shared table, so it cannot be changed in place.
    """
    present = have.objects_named()
    used: set[SharedObjectState] = set()
    additions: list[SharedObjectState] = []
    kept: list[SharedObjectState] = []
    seen: set[tuple[str, str | None]] = set()
    for obj in want:
        if (obj.name, obj.shared_as) in seen:
            continue  # declared twice: once is enough
        seen.add((obj.name, obj.shared_as))
        match = next(
            (
                candidate
                for candidate in present.get(obj.name, ())
                if candidate not in used and _matches(obj, candidate)
            ),
            None,
        )
        if match is None:
            additions.append(obj)
        else:
            used.add(match)
            kept.append(match)
    removals = [obj for objs in present.values() for obj in objs if obj not in used]
    return removals, additions, kept


def _matches(want: SharedObjectState, have: SharedObjectState) -> bool:
    return (
        want.type == have.type
        and (want.shared_as is None or want.shared_as == have.alias)
        and (want.history is None or want.history == bool(have.history))
    )


def _check_aliases(share: str, objects: Sequence[SharedObjectState], draft: _Draft) -> None:
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
    share: str, grantees: frozenset[str], actual: WorkspaceState, draft: _Draft, *, declared: frozenset[str]
) -> None:
    for recipient in sorted(grantees - declared - set(actual.recipients)):
        draft.conflicts.append(
            f"share {share} is granted to recipient {recipient}, which the share pack does not declare "
            "and the workspace does not have"
        )


def _plan_delete(share_pack: SharePackSpec, actual: WorkspaceState, draft: _Draft) -> None:
    shares = [s.name for s in share_pack.shares if s.name in actual.shares]
    recipients = [r.name for r in share_pack.recipients if r.name in actual.recipients]
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
    named = {p.name for p in share_pack.pipelines}
    doomed_shares = {s.name for s in share_pack.shares}
    for name, have in sorted(actual.pipelines.items()):
        if name in named or have.share in doomed_shares:
            _remove_pipeline(have, draft)


# -- pipelines and schedules ------------------------------------------------------------------------------

#: What a pipeline cannot change in place: a new source or SCD type means a new target table history.
IMMUTABLE_PIPELINE_FIELDS = ("source_table", "scd_type")


def _plan_pipelines(
    share_pack: SharePackSpec, actual: WorkspaceState, strategy: Strategy, draft: _Draft, *, exact: bool = False
) -> None:
    """Create, update or adopt the declared pipelines; remove ours that feed a table no longer shared.

    A pipeline belongs to the share holding its target table. In an UPDATE, a pipeline of one of the
    pack's shares whose target the share no longer holds is removed with its schedule, declared or not.

    Changes to existing pipelines carry their Databricks ids (``pipeline_id``, ``job_id``), read with the
    plan, so that applying them needs no second lookup. With ``exact`` (a rollback's restore) a pipeline
    whose immutable fields differ is replaced (`Action.REPLACE`) rather than refused.
    """
    share_of = {o.name: s.name for s in share_pack.shares for o in s.data_objects}
    declared = {p.name for p in share_pack.pipelines}
    for spec in share_pack.pipelines:
        want = desired_pipeline(spec, share_of.get(spec.target_table or ""), project=share_pack.metadata.project_name)
        have = actual.pipelines.get(want.name)
        if have is None:
            _create_pipeline(want, draft)
        else:
            _plan_existing_pipeline(want, have, strategy, draft, exact=exact)
    if strategy is Strategy.UPDATE:
        pack_shares = {s.name for s in share_pack.shares}
        for name, have in sorted(actual.pipelines.items()):
            if name not in declared and have.share in pack_shares and have.target_table not in share_of:
                _remove_pipeline(have, draft)


def _create_pipeline(want: PipelineState, draft: _Draft) -> None:
    # The new pipeline's id is unknown until step 7 creates it; step 7 hands it to step 8 (`apply.hand_over`).
    draft.add(Change(Entity.PIPELINE, Action.CREATE, want.name, share=want.share, new=want.describe()))
    if want.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.CREATE, want.name, share=want.share, new=_schedule_new(want)))


def _plan_existing_pipeline(
    want: PipelineState, have: PipelineState, strategy: Strategy, draft: _Draft, *, exact: bool
) -> None:
    old, new = have.describe(), want.describe()
    differing = sorted(key for key in new if new[key] != old.get(key))
    immutable = [key for key in IMMUTABLE_PIPELINE_FIELDS if key in differing]
    if immutable and exact:
        _replace_pipeline(want, have, draft)
        return
    if immutable:
        draft.conflicts.append(
            f"pipeline {want.name}: " + ", ".join(f"{key} cannot change ({old[key]} → {new[key]})" for key in immutable)
            + "; remove the pipeline in one pack and declare it again in another"
        )
        return
    # A NEW pack adopts what an earlier attempt made, including a pipeline whose schedule it never got to.
    schedule_conflicts = have.schedule is not None and _schedule_differs(want.schedule, have.schedule)
    if strategy is Strategy.NEW and (differing or schedule_conflicts):
        draft.conflicts.append(f"pipeline {want.name} already exists with another " + ", ".join(differing or
                                                                                             ["schedule"]))
        return
    ids = {"pipeline_id": have.pipeline_id}
    if differing:
        draft.add(Change(Entity.PIPELINE, Action.UPDATE, want.name, share=want.share,
                         old={**{key: old.get(key) for key in differing}, **ids}, new=new))
    elif strategy is Strategy.NEW:
        draft.adopted.append(Change(Entity.PIPELINE, Action.ADOPT, want.name, share=want.share, new=new))
    if want.schedule is not None and have.schedule is None:
        draft.add(Change(Entity.SCHEDULE, Action.CREATE, want.name, share=want.share, new=_schedule_new(want, ids)))
    elif want.schedule is None and have.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.DELETE, want.name, share=have.share, old=_schedule_old(have)))
    elif want.schedule is not None and have.schedule is not None and _schedule_differs(want.schedule, have.schedule):
        draft.add(Change(Entity.SCHEDULE, Action.UPDATE, want.name, share=want.share,
                         old=_schedule_old(have), new=_schedule_new(want, ids)))


def _replace_pipeline(want: PipelineState, have: PipelineState, draft: _Draft) -> None:
    """Delete ``have`` (with its job) and create ``want`` in step 7, then schedule it in step 8."""
    draft.add(Change(Entity.PIPELINE, Action.REPLACE, want.name, share=want.share, old=_pipeline_old(have),
                     new=want.describe()))
    if want.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.CREATE, want.name, share=want.share, new=_schedule_new(want)))
    elif have.schedule is not None:  # shown and audited; step 7 deletes the job with its pipeline
        draft.add(Change(Entity.SCHEDULE, Action.DELETE, want.name, share=have.share, old=_schedule_old(have)))


def _schedule_differs(want: ScheduleState | None, have: ScheduleState | None) -> bool:
    return (want.describe() if want else None) != (have.describe() if have else None)


def _pipeline_old(have: PipelineState) -> dict[str, Any]:
    """A pipeline's definition with its ids and its job's id (None: it has no job)."""
    return {**have.describe(), "pipeline_id": have.pipeline_id,
            "job_id": have.schedule.job_id if have.schedule else None}


def _schedule_new(want: PipelineState, ids: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A schedule's definition, the tags its job shares with the pipeline, and the pipeline's id if known."""
    assert want.schedule is not None
    return {**want.schedule.describe(), "tags": dict(sorted(want.tags.items())), **(ids or {})}


def _schedule_old(have: PipelineState) -> dict[str, Any]:
    assert have.schedule is not None
    return {**have.schedule.describe(), "job_id": have.schedule.job_id, "pipeline_id": have.pipeline_id}


def _remove_pipeline(have: PipelineState, draft: _Draft) -> None:
    if have.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.DELETE, have.name, share=have.share, old=_schedule_old(have)))
    draft.add(Change(Entity.PIPELINE, Action.DELETE, have.name, share=have.share, old=_pipeline_old(have)))


# -- batching -------------------------------------------------------------------------------------------


def batch_object_changes(changes: Sequence[Change], *, limit: int = MAX_UPDATES_PER_CALL) -> list[list[Change]]:
    """Split one share's object changes into calls of at most ``limit`` updates, removals first.

    Independent removals and additions share a call (fewest calls), but an addition that reuses the name
    or alias of a removal waits for a later call: one call may not touch the same object twice, and the
    removal must have happened before the addition.
    """
    ordered = [c for c in changes if c.action is Action.REMOVE] + [c for c in changes if c.action is Action.ADD]
    batches: list[list[Change]] = []
    current: list[Change] = []
    removed_keys: set[str] = set()
    for change in ordered:
        keys = _object_keys(change.data_object())
        if len(current) >= limit or (change.action is Action.ADD and keys & removed_keys):
            batches.append(current)
            current, removed_keys = [], set()
        current.append(change)
        if change.action is Action.REMOVE:
            removed_keys |= keys
    if current:
        batches.append(current)
    return batches


def _object_keys(obj: SharedObjectState) -> set[str]:
    return {f"name:{obj.name}"} | ({f"alias:{obj.alias}"} if obj.alias else set())
