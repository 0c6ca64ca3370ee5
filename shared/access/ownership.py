"""Ownership of Databricks objects: a pack may create, adopt, change or delete only its own project's objects.

Recipients and shares record their owning project in their own rows; a pipeline (and its job) belongs to the
project of the share pack that declared it. Every name a pack touches is checked before planning, whether
the object is in the workspace or not: a name the database records under another project stays that
project's even while the object is missing from the workspace (drift), so a NEW pack cannot re-create and
take it over. A rollback's removals are checked too, and what is not the project's is left alone.

The same check runs in every preview (dry run, upload pre-flight, rollback preview), so a plan, a preview or
a conflict message never describes another project's object: a refusal says only that the name is taken.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import CompoundSelect, bindparam, false, select, true, union_all
from sqlalchemy.orm import Session, sessionmaker

from shared.access.directory import UploadTarget
from shared.models import Pipeline, Recipient, Share, SharePack
from shared.provisioning.diff import make_plan, make_rollback_plan
from shared.provisioning.plan import Change, Entity, Plan
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import SharePackSpec
from shared.share_pack_file.model import Strategy

OUT_OF_BAND = "created outside this service; an administrator can import it into a project"
FOREIGN = "owned by another project"
#: What a preview or refusal says about a name recorded under another project: nothing about the object.
TAKEN = "is a name taken by another project"

Owner = uuid.UUID | None


@dataclass(frozen=True)
class Owners:
    """The owning project of each recipient, share and pipeline this service has recorded in one workspace.

    A name absent from a mapping is not recorded at all; a name mapped to None is recorded without a project.
    """

    recipients: Mapping[str, Owner]
    shares: Mapping[str, Owner]
    pipelines: Mapping[str, Owner] = field(default_factory=dict)
    #: Pipelines whose last recorded version is a deletion, and the project that recorded it. An UPDATE that
    #: stops declaring a pipeline ends its row while Databricks keeps it; it stays that project's while it exists.
    released_pipelines: Mapping[str, Owner] = field(default_factory=dict)

    def pipelines_in(self, actual: WorkspaceState) -> Mapping[str, Owner]:
        """Owners of pipelines: the recorded ones, and the released ones the workspace still holds."""
        kept = {name: owner for name, owner in self.released_pipelines.items() if name in actual.pipelines}
        return {**kept, **self.pipelines}


def recorded_owners(session: Session, workspace_url: str, *specs: SharePackSpec) -> Owners:
    """Owners of the recipients, shares and pipelines the packs name (and of every recorded pipeline)."""
    recipient_names = sorted({r.name for spec in specs for r in spec.recipients})
    share_names = sorted({s.name for spec in specs for s in spec.shares})
    recipients, shares = [], []
    # One round trip for both kinds (the upload's hot path asks this); the first column says which.
    for is_share, name, project_id in session.execute(_owners_statement(), {
        "workspace_url": workspace_url, "recipients": recipient_names, "shares": share_names,
    }):
        (shares if is_share else recipients).append((name, project_id))
    # Every pipeline: a plan may touch pipelines a pack does not name (those feeding its shares' tables); a NEW
    # pack without pipelines touches none, so the upload's hot path skips the read.
    pipelines = session.execute(
        select(Pipeline.pipeline_name, SharePack.project_id, Pipeline.is_deleted)
        .outerjoin(SharePack, (SharePack.share_pack_id == Pipeline.share_pack_id) & SharePack.is_current)
        .where(Pipeline.is_current, Pipeline.workspace_url == workspace_url)
    ).all() if any(spec.pipelines or spec.metadata.strategy is not Strategy.NEW for spec in specs) else []
    return Owners(
        recipients=dict(recipients),
        shares=dict(shares),
        pipelines={name: owner for name, owner, deleted in pipelines if not deleted},
        released_pipelines={name: owner for name, owner, deleted in pipelines if deleted},
    )


@functools.cache
def _owners_statement() -> CompoundSelect:
    """`recorded_owners`' recipients and shares, built once with bound parameters (building it on every upload
    cost more CPU than running it)."""
    workspace_url = bindparam("workspace_url")
    return union_all(
        select(false(), Recipient.recipient_name, Recipient.project_id).where(
            Recipient.is_current,
            ~Recipient.is_deleted,
            Recipient.workspace_url == workspace_url,
            Recipient.recipient_name.in_(bindparam("recipients", expanding=True)),
        ),
        select(true(), Share.share_name, Share.project_id).where(
            Share.is_current, ~Share.is_deleted, Share.workspace_url == workspace_url,
            Share.share_name.in_(bindparam("shares", expanding=True)),
        ),
    )


def ownership_conflicts(
    spec: SharePackSpec, actual: WorkspaceState, owners: Owners, project_id: uuid.UUID | None
) -> list[str]:
    """One sentence per object the pack names but its project does not own (empty: all clear).

    An object in the workspace must be recorded under the project; one missing from the workspace may be
    created unless the database records it under another project.
    """
    conflicts: list[str] = []
    for recipient in spec.recipients:
        conflicts.extend(_refusal("recipient", recipient.name, recipient.name in actual.recipients,
                                  owners.recipients, project_id))
    for share in spec.shares:
        conflicts.extend(_refusal("share", share.name, share.name in actual.shares, owners.shares, project_id))
    for pipeline in spec.pipelines:
        conflicts.extend(_refusal("pipeline", pipeline.name, pipeline.name in actual.pipelines,
                                  owners.pipelines_in(actual), project_id))
    return conflicts


def owned_state(actual: WorkspaceState, owners: Owners, project_id: uuid.UUID | None) -> WorkspaceState:
    """``actual`` without the pipelines the project does not own, so no plan touches or describes them.

    A pack names its pipelines (checked by `ownership_conflicts`), but a plan also removes the pipelines
    feeding a table its share no longer holds: another project's pipeline there is left alone.
    """
    recorded = owners.pipelines_in(actual)
    mine = {name: p for name, p in actual.pipelines.items() if _owns(recorded, name, project_id)}
    return actual if len(mine) == len(actual.pipelines) else replace(actual, pipelines=mine)


def owned_removals(
    removals: SharePackSpec, actual: WorkspaceState, owners: Owners, project_id: uuid.UUID | None
) -> tuple[SharePackSpec, list[str]]:
    """A rollback's removals without the names its project does not own, and one sentence per name left.

    A rollback removes what later configurations declared; a configuration that named another project's
    object (and failed on it) must not make the rollback delete that object.
    """
    assert removals.metadata.strategy is Strategy.DELETE

    def mine(kind: str, name: str, exists: bool, recorded: Mapping[str, Owner]) -> bool:
        return not _refusal(kind, name, exists, recorded, project_id)

    kept = replace(
        removals,
        recipients=tuple(r for r in removals.recipients
                         if mine("recipient", r.name, r.name in actual.recipients, owners.recipients)),
        shares=tuple(s for s in removals.shares if mine("share", s.name, s.name in actual.shares, owners.shares)),
        pipelines=tuple(p for p in removals.pipelines
                        if mine("pipeline", p.name, p.name in actual.pipelines, owners.pipelines_in(actual))),
    )
    left = [
        f"{kind} {name} {TAKEN}; the rollback leaves it as it is"
        for kind, before, after in (
            ("recipient", removals.recipients, kept.recipients),
            ("share", removals.shares, kept.shares),
            ("pipeline", removals.pipelines, kept.pipelines),
        )
        for name in sorted({o.name for o in before} - {o.name for o in after})
    ]
    return kept, left


def _owns(recorded: Mapping[str, Owner], name: str, project_id: uuid.UUID | None) -> bool:
    return project_id is not None and recorded.get(name) == project_id


def _refusal(
    kind: str, name: str, exists: bool, recorded: Mapping[str, Owner], project_id: uuid.UUID | None
) -> list[str]:
    if _owns(recorded, name, project_id):
        return []
    if not exists:
        # Missing from the workspace: free, unless the database keeps the name for another project.
        return [f"{kind} {name} {TAKEN}"] if recorded.get(name) is not None else []
    return [f"{kind} {name} exists and is {OUT_OF_BAND if recorded.get(name) is None else FOREIGN}"]


# -- previews: plans that describe only what the project owns ------------------------------------------------


@dataclass(frozen=True)
class ProjectScope:
    """What one project owns in one workspace, to plan a preview (dry run, pre-flight, rollback) for it.

    A preview plans only against the objects the project owns: a named object of another project (or one
    made outside this service) is taken out of the workspace state before planning, so no change, adoption
    or conflict describes it (its grantees, objects, IP list or comment); the plan says only that the name
    is taken. ``project_id`` is None for a project not registered yet, which owns nothing.
    """

    project_id: uuid.UUID | None
    owners: Owners

    def plan(self, spec: SharePackSpec, actual: WorkspaceState) -> Plan:
        """`make_plan` of ``spec`` as this project may see it."""
        hidden = _not_owned(spec, actual, self.owners, self.project_id)
        plan = make_plan(spec, _visible(actual, hidden, self.owners, self.project_id))
        return _without(plan, hidden, ownership_conflicts(spec, actual, self.owners, self.project_id))

    def rollback_plan(self, restore: SharePackSpec, remove: SharePackSpec, actual: WorkspaceState) -> Plan:
        """`make_rollback_plan` as this project may see it: removals of what it does not own are dropped."""
        kept, _ = owned_removals(remove, actual, self.owners, self.project_id)
        hidden = _not_owned(restore, actual, self.owners, self.project_id)
        plan = make_rollback_plan(restore, kept, _visible(actual, hidden, self.owners, self.project_id))
        return _without(plan, hidden, ownership_conflicts(restore, actual, self.owners, self.project_id))


def target_scope(session: Session, spec: SharePackSpec, workspace_url: str, target: UploadTarget | None
                 ) -> ProjectScope:
    """The scope of the project an upload names, ``target`` (`resolve_upload_target`; no project when its
    business line or project is not registered)."""
    project_id = target.project.project_id if target is not None and target.project is not None else None
    return ProjectScope(project_id, recorded_owners(session, workspace_url, spec))


def pack_scope(session: Session, pack: SharePack, *specs: SharePackSpec) -> ProjectScope:
    """The scope of a stored pack's project, for the names ``specs`` declare."""
    return ProjectScope(pack.project_id, recorded_owners(session, pack.workspace_url, *specs))


#: Per kind of object, the names a pack declares that its project may not touch.
_Hidden = Mapping[Entity, frozenset[str]]


def _not_owned(spec: SharePackSpec, actual: WorkspaceState, owners: Owners, project_id: uuid.UUID | None) -> _Hidden:
    def refused(kind: str, names: Iterable[str], present: Mapping[str, object], recorded: Mapping[str, Owner]
                ) -> frozenset[str]:
        return frozenset(n for n in names if _refusal(kind, n, n in present, recorded, project_id))

    return {
        Entity.RECIPIENT: refused("recipient", [r.name for r in spec.recipients], actual.recipients,
                                  owners.recipients),
        Entity.SHARE: refused("share", [s.name for s in spec.shares], actual.shares, owners.shares),
        Entity.PIPELINE: refused("pipeline", [p.name for p in spec.pipelines], actual.pipelines,
                                 owners.pipelines_in(actual)),
    }


def _visible(actual: WorkspaceState, hidden: _Hidden, owners: Owners, project_id: uuid.UUID | None
             ) -> WorkspaceState:
    shares = hidden[Entity.SHARE]
    return owned_state(
        replace(
            actual,
            recipients={n: r for n, r in actual.recipients.items() if n not in hidden[Entity.RECIPIENT]},
            shares={n: s for n, s in actual.shares.items() if n not in shares},
            grants={n: g for n, g in actual.grants.items() if n not in shares},
        ),
        owners,
        project_id,
    )


def _without(plan: Plan, hidden: _Hidden, refused: Iterable[str]) -> Plan:
    """``plan`` without any change about a hidden name, refused with one sentence per name instead."""

    def shown(change: Change) -> bool:
        if change.entity in (Entity.PIPELINE, Entity.SCHEDULE):
            return change.name not in hidden[Entity.PIPELINE]
        if change.entity is Entity.RECIPIENT:
            return change.name not in hidden[Entity.RECIPIENT]
        if change.entity is Entity.SHARE:
            return change.name not in hidden[Entity.SHARE]
        if change.entity is Entity.GRANT and change.name in hidden[Entity.RECIPIENT]:
            return False
        return change.share not in hidden[Entity.SHARE]

    return replace(
        plan,
        changes=tuple(c for c in plan.changes if shown(c)),
        adopted=tuple(c for c in plan.adopted if shown(c)),
        conflicts=(*plan.conflicts, *refused),
        pending_activations=tuple(n for n in plan.pending_activations if n not in hidden[Entity.RECIPIENT]),
    )


def rollback_preview_plan(
    session_factory: sessionmaker[Session],
    pack: SharePack,
    restore: SharePackSpec,
    remove: SharePackSpec,
    actual: WorkspaceState,
) -> Plan:
    """A rollback's plan, made when it is asked for, as the pack's project may see it."""
    with session_factory() as session:
        scope = pack_scope(session, pack, restore, remove)
    return scope.rollback_plan(restore, remove, actual)
