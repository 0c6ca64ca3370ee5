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

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Pipeline, Recipient, Share, SharePack
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

    def with_created(self, project_id: uuid.UUID, *, recipients: Iterable[str] = (), shares: Iterable[str] = (),
                     pipelines: Iterable[str] = ()) -> Owners:
        """These owners plus what an interrupted attempt of a pack of ``project_id`` created (not recorded yet)."""
        return Owners(
            recipients={**self.recipients, **dict.fromkeys(recipients, project_id)},
            shares={**self.shares, **dict.fromkeys(shares, project_id)},
            pipelines={**self.pipelines, **dict.fromkeys(pipelines, project_id)},
        )


def recorded_owners(session: Session, workspace_url: str, *specs: SharePackSpec) -> Owners:
    """Owners of the recipients, shares and pipelines the packs name (and of every recorded pipeline)."""
    recipient_names = sorted({r.name for spec in specs for r in spec.recipients})
    share_names = sorted({s.name for spec in specs for s in spec.shares})
    recipients = session.execute(
        select(Recipient.recipient_name, Recipient.project_id).where(
            Recipient.is_current,
            ~Recipient.is_deleted,
            Recipient.workspace_url == workspace_url,
            Recipient.recipient_name.in_(recipient_names),
        )
    ).all()
    shares = session.execute(
        select(Share.share_name, Share.project_id).where(
            Share.is_current, ~Share.is_deleted, Share.workspace_url == workspace_url, Share.share_name.in_(share_names)
        )
    ).all()
    # Every pipeline: a plan may touch pipelines a pack does not name (those feeding its shares' tables).
    pipelines = session.execute(
        select(Pipeline.pipeline_name, SharePack.project_id)
        .outerjoin(SharePack, (SharePack.share_pack_id == Pipeline.share_pack_id) & SharePack.is_current)
        .where(Pipeline.is_current, ~Pipeline.is_deleted, Pipeline.workspace_url == workspace_url)
    ).all()
    return Owners(recipients=dict(recipients), shares=dict(shares), pipelines=dict(pipelines))


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
        conflicts.extend(_refusal("pipeline", pipeline.name, pipeline.name in actual.pipelines, owners.pipelines,
                                  project_id))
    return conflicts


def owned_state(actual: WorkspaceState, owners: Owners, project_id: uuid.UUID | None) -> WorkspaceState:
    """``actual`` without the pipelines the project does not own, so no plan touches or describes them.

    A pack names its pipelines (checked by `ownership_conflicts`), but a plan also removes the pipelines
    feeding a table its share no longer holds: another project's pipeline there is left alone.
    """
    mine = {name: p for name, p in actual.pipelines.items() if _owns(owners.pipelines, name, project_id)}
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
                        if mine("pipeline", p.name, p.name in actual.pipelines, owners.pipelines)),
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
