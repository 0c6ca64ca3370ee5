"""Drift detection: compare a workspace with the last COMPLETED share pack owning each object. Pure — no I/O.

Ownership: completed packs are replayed in the order they completed; a NEW or UPDATE pack takes ownership of
every recipient and share it names, a DELETE gives them up. A pack's drift is then the plan an UPDATE of its
own configuration would make against the workspace, restricted to what it still owns — so the drift report
and the plan of a reconcile are the same list by construction: a missing object is an ADD/CREATE, an object
added out of band a REMOVE/REVOKE, a changed comment or IP list an UPDATE. Recipients and shares no pack
owns are reported once per workspace, as unexpected, without a pack; so are the pipelines of this service
(recognised by their configuration) that no pack declares and that feed no share a pack owns.

Pipelines and their schedule jobs are owned by the last pack declaring them by name (a pipeline no pack
declares but that feeds one of a pack's shares belongs to that share's pack, whose UPDATE would remove it):
a pipeline deleted by hand is a missing pipeline (and a missing schedule), one whose target, notification
list or tags were edited a changed pipeline, a job deleted or re-timed a missing or changed schedule. A
pipeline whose source table or SCD type was edited is reported as changed too, but the worker's UPDATE
refuses to change those in place (the plan's conflict), so a reconcile of it fails and says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from shared.provisioning.diff import make_plan
from shared.provisioning.pipeline_diff import IMMUTABLE_PIPELINE_FIELDS
from shared.provisioning.pipeline_state import desired_pipeline
from shared.provisioning.plan import Action, Change, Entity
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import SharePackSpec, Strategy


class DriftKind(StrEnum):
    MISSING = "missing"  # declared, not in the workspace
    UNEXPECTED = "unexpected"  # in the workspace, not declared (or not created by any pack)
    CHANGED = "changed"  # present, but its definition differs


@dataclass(frozen=True)
class CompletedPack:
    """A completed share pack, as the drift check needs it."""

    share_pack_id: uuid.UUID
    spec: SharePackSpec


@dataclass(frozen=True)
class Finding:
    """One difference between a workspace and what a pack declared (``share_pack_id`` None: no pack owns it).

    ``name`` is the recipient, share or pipeline name (a schedule is named by its pipeline); for data objects
    and grants ``<share>/<object or recipient>``.
    """

    share_pack_id: uuid.UUID | None
    entity: str
    name: str
    kind: DriftKind
    expected: Mapping[str, Any] | None
    actual: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "Entity": self.entity,
            "Name": self.name,
            "Kind": str(self.kind),
            "Expected": dict(self.expected) if self.expected is not None else None,
            "Actual": dict(self.actual) if self.actual is not None else None,
        }


_KIND_OF_ACTION = {
    Action.CREATE: DriftKind.MISSING,
    Action.ADD: DriftKind.MISSING,
    Action.GRANT: DriftKind.MISSING,
    Action.UPDATE: DriftKind.CHANGED,
    Action.REPLACE: DriftKind.CHANGED,  # a definition that can only change by re-creating
    Action.REMOVE: DriftKind.UNEXPECTED,
    Action.REVOKE: DriftKind.UNEXPECTED,
    Action.DELETE: DriftKind.UNEXPECTED,
}


def reconcile_spec(spec: SharePackSpec) -> SharePackSpec:
    """The configuration a reconcile applies: the pack itself, as an UPDATE (a DELETE stays a DELETE)."""
    if spec.metadata.strategy is not Strategy.NEW:
        return spec
    return replace(spec, metadata=replace(spec.metadata, strategy=Strategy.UPDATE))


def owners(packs: Iterable[CompletedPack]) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """Return (recipient → owning pack, share → owning pack), replaying ``packs`` oldest first."""
    recipients: dict[str, uuid.UUID] = {}
    shares: dict[str, uuid.UUID] = {}
    for pack in packs:
        deleting = pack.spec.metadata.strategy is Strategy.DELETE
        for owned, names in (
            (recipients, [r.name for r in pack.spec.recipients]),
            (shares, [s.name for s in pack.spec.shares]),
        ):
            for name in names:
                if deleting:
                    owned.pop(name, None)
                else:
                    owned[name] = pack.share_pack_id
    return recipients, shares


def pipeline_owners(packs: Iterable[CompletedPack]) -> dict[str, uuid.UUID]:
    """Return pipeline → owning pack, replaying ``packs`` oldest first (a DELETE gives its pipelines up)."""
    pipelines: dict[str, uuid.UUID] = {}
    for pack in packs:
        for spec in pack.spec.pipelines:
            if pack.spec.metadata.strategy is Strategy.DELETE:
                pipelines.pop(spec.name, None)
            else:
                pipelines[spec.name] = pack.share_pack_id
    return pipelines


def detect_drift(actual: WorkspaceState, packs: Sequence[CompletedPack]) -> list[Finding]:
    """Return every drift finding of a workspace, given its completed packs oldest first."""
    recipient_owner, share_owner = owners(packs)
    pipeline_owner = pipeline_owners(packs)
    findings: list[Finding] = []
    for pack in packs:
        if pack.spec.metadata.strategy is Strategy.DELETE:
            continue
        spec = reconcile_spec(pack.spec)
        plan = make_plan(spec, actual)
        for change in plan.changes:
            if _owner_of(change, recipient_owner, share_owner, pipeline_owner) == pack.share_pack_id:
                findings.append(_finding(pack.share_pack_id, change))
        findings.extend(_immutable_pipeline_changes(pack.share_pack_id, spec, actual, pipeline_owner))
    for name in sorted(set(actual.recipients) - set(recipient_owner)):
        findings.append(
            Finding(None, str(Entity.RECIPIENT), name, DriftKind.UNEXPECTED, None, actual.recipients[name].describe())
        )
    for name in sorted(set(actual.shares) - set(share_owner)):
        share = actual.shares[name]
        described = {"comment": share.comment, "objects": sorted(o.name for o in share.objects)}
        findings.append(Finding(None, str(Entity.SHARE), name, DriftKind.UNEXPECTED, None, described))
    for name, pipeline in sorted(actual.pipelines.items()):
        if name not in pipeline_owner and pipeline.share not in share_owner:
            findings.append(
                Finding(None, str(Entity.PIPELINE), name, DriftKind.UNEXPECTED, None, pipeline.describe())
            )
    return findings


def _owner_of(
    change: Change,
    recipient_owner: Mapping[str, uuid.UUID],
    share_owner: Mapping[str, uuid.UUID],
    pipeline_owner: Mapping[str, uuid.UUID],
) -> uuid.UUID | None:
    if change.entity is Entity.RECIPIENT:
        return recipient_owner.get(change.name)
    if change.entity in (Entity.PIPELINE, Entity.SCHEDULE) and change.name in pipeline_owner:
        return pipeline_owner[change.name]
    return share_owner.get(change.share or change.name)


def _immutable_pipeline_changes(
    share_pack_id: uuid.UUID, spec: SharePackSpec, actual: WorkspaceState, pipeline_owner: Mapping[str, uuid.UUID]
) -> list[Finding]:
    """The pack's pipelines whose source table or SCD type differ: the plan refuses them (a conflict, no
    change), so they are compared here, with the same definitions the plan compares."""
    share_of = {o.name: s.name for s in spec.shares for o in s.data_objects}
    found = []
    for declared in spec.pipelines:
        have = actual.pipelines.get(declared.name)
        if have is None or pipeline_owner.get(declared.name) != share_pack_id:
            continue
        want = desired_pipeline(declared, share_of.get(declared.target_table or ""),
                                project=spec.metadata.project_name).describe()
        old = have.describe()
        if any(want[key] != old[key] for key in IMMUTABLE_PIPELINE_FIELDS):
            differing = [key for key in want if want[key] != old.get(key)]
            found.append(Finding(share_pack_id, str(Entity.PIPELINE), declared.name, DriftKind.CHANGED,
                                 {key: want[key] for key in differing}, {key: old[key] for key in differing}))
    return found


def _finding(share_pack_id: uuid.UUID, change: Change) -> Finding:
    kind = _KIND_OF_ACTION[change.action]
    pipeline = change.entity in (Entity.PIPELINE, Entity.SCHEDULE)
    name = f"{change.share}/{change.name}" if change.share and not pipeline else change.name
    expected: Mapping[str, Any] | None = dict(change.new) if change.new else None
    actual: Mapping[str, Any] | None = dict(change.old) if change.old else None
    if kind is DriftKind.MISSING:
        actual = None
    elif kind is DriftKind.UNEXPECTED:
        expected = None
    return Finding(share_pack_id, str(change.entity), name, kind, expected, actual)
