"""The plan: what must change in a workspace for it to match a share pack. Pure — no I/O.

A plan is a list of `Change`s grouped into `Section`s, each carried out by one step of the job. It is stored
with the share pack and served to users, so it is JSON-able (`Plan.to_dict` / `Plan.from_dict`) and never
holds a secret. `shared.provisioning.diff.make_plan` makes one; `shared.provisioning.apply` carries it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.provisioning.pipeline_state import PipelineState
from shared.provisioning.workspace_state import RecipientState, SharedObjectState
from shared.share_pack_file.model import FederationPolicySpec, Strategy

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
        if self.new.get("replaces"):
            text += f" (removed first: {self.new['replaces']})"
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
            properties=tuple(sorted((values.get("properties") or {}).items())),
            federation_policies=tuple(FederationPolicySpec.from_dict(p) for p in values.get("federation_policies")
                                      or ()),
        )

    def data_object(self) -> SharedObjectState:
        """Return the object an ADD adds, an UPDATE leaves (its whole new definition) or a REMOVE removes."""
        values = self.new if self.action in (Action.ADD, Action.UPDATE) else self.old
        return SharedObjectState.from_description(self.name, values)

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


@dataclass
class Draft:
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
