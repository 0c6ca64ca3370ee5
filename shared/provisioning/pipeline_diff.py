"""The pipeline diff: which pipelines and schedules a plan creates, updates, replaces or removes.

A pipeline belongs to the share holding its target table; its source table and SCD type cannot change in
place (`IMMUTABLE_PIPELINE_FIELDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.provisioning.pipeline_state import PipelineState, ScheduleState, desired_pipeline
from shared.provisioning.plan import Action, Change, Draft, Entity
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file.model import SharePackSpec, Strategy

#: What a pipeline cannot change in place: a new source or SCD type means a new target table history.
IMMUTABLE_PIPELINE_FIELDS = ("source_table", "scd_type")


def plan_pipelines(
    share_pack: SharePackSpec, actual: WorkspaceState, strategy: Strategy, draft: Draft, *, exact: bool = False
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


def _create_pipeline(want: PipelineState, draft: Draft) -> None:
    # The new pipeline's id is unknown until step 7 creates it; step 7 hands it to step 8 (`apply_pipelines.hand_over`).
    draft.add(Change(Entity.PIPELINE, Action.CREATE, want.name, share=want.share, new=want.describe()))
    if want.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.CREATE, want.name, share=want.share, new=_schedule_new(want)))


def _plan_existing_pipeline(
    want: PipelineState, have: PipelineState, strategy: Strategy, draft: Draft, *, exact: bool
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


def _replace_pipeline(want: PipelineState, have: PipelineState, draft: Draft) -> None:
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


def _remove_pipeline(have: PipelineState, draft: Draft) -> None:
    if have.schedule is not None:
        draft.add(Change(Entity.SCHEDULE, Action.DELETE, have.name, share=have.share, old=_schedule_old(have)))
    draft.add(Change(Entity.PIPELINE, Action.DELETE, have.name, share=have.share, old=_pipeline_old(have)))


def plan_pipeline_deletes(spec: SharePackSpec, actual: WorkspaceState, draft: Draft) -> None:
    """Remove (DELETE) the pipelines the pack names and those feeding a share it deletes, with their jobs."""
    named = {p.name for p in spec.pipelines}
    doomed_shares = {s.name for s in spec.shares}
    for name, have in sorted(actual.pipelines.items()):
        if name in named or have.share in doomed_shares:
            _remove_pipeline(have, draft)
