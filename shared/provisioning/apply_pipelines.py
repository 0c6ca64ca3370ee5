"""Carry out a plan's pipelines and schedules sections (steps 7 and 8), and hand new pipeline ids on.

Step 7 creates, updates (whole spec), replaces or deletes pipelines (a deleted one takes its job with it);
step 8 creates, resets or deletes each pipeline's job. A DELETE runs them the other way round: jobs first.
Like every step (`shared.provisioning.apply`), each may be re-run: a create that meets the pipeline an
earlier run made adopts it, and deletes of missing objects are no-ops.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

from shared.provisioning.apply import Outcome, StepResult, run_tasks, section_changes
from shared.provisioning.errors import ObjectDoesNotExist, PermanentProvisioningError
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.pipeline_state import PipelineIds, PipelineState, schedule_from
from shared.provisioning.plan import Action, Change, Plan, Section
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file.model import Strategy

__all__ = ["apply_pipelines", "apply_schedules", "hand_over", "pipeline_ids"]


def apply_pipelines(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Create, update, replace or delete pipelines, using the ids the plan carries (a create that meets
    the pipeline an earlier run made adopts it). The result holds the ids of what it created: pass it
    to `hand_over` before step 8."""
    changes = section_changes(plan, Section.PIPELINES)
    if any(change.action is not Action.DELETE for change in changes):
        gateway.create_source_folder()  # once for all the sources this step uploads
    # NEW and UPDATE run this step before step 8, so a deleted pipeline takes its job with it; a DELETE
    # has already deleted the jobs in step 8.
    with_job = plan.strategy is not Strategy.DELETE
    tasks = [_pipeline_task(gateway, change, with_job=with_job) for change in changes]
    return run_tasks(Section.PIPELINES, tasks, concurrency=concurrency)


def apply_schedules(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Create, reset or delete the job that runs each scheduled pipeline."""
    # In NEW/UPDATE order step 7 has run: a pipeline it deleted or replaced took its job with it.
    gone = set() if plan.strategy is Strategy.DELETE else {
        change.name for change in plan.changes_for(Section.PIPELINES)
        if change.action in (Action.DELETE, Action.REPLACE)
    }
    tasks = [
        _schedule_task(gateway, change, done=change.name in gone) for change in section_changes(plan, Section.SCHEDULES)
    ]
    return run_tasks(Section.SCHEDULES, tasks, concurrency=concurrency)


def _pipeline_task(gateway: WorkspaceGateway, change: Change, *, with_job: bool) -> Callable[[], Outcome]:
    def run() -> Outcome:
        outcome = Outcome(changes=[change])
        if change.action in (Action.DELETE, Action.REPLACE):
            _delete_pipeline(gateway, change, with_job=with_job or change.action is Action.REPLACE)
            outcome.pipelines[change.name] = PipelineIds()
        if change.action in (Action.CREATE, Action.REPLACE):
            outcome.pipelines[change.name] = _create_pipeline(gateway, change)
        elif change.action is Action.UPDATE:
            pipeline_id = change.pipeline_id or _found(gateway, change.name).pipeline_id
            gateway.update_pipeline(str(pipeline_id), change.pipeline())
        return outcome

    return run


def _delete_pipeline(gateway: WorkspaceGateway, change: Change, *, with_job: bool) -> None:
    """Delete a pipeline (its job first when ``with_job``: a job left behind by a deleted pipeline could
    never be found again, as jobs are found through their pipeline)."""
    pipeline_id, job_id = change.pipeline_id, change.job_id
    if pipeline_id is None:  # a plan stored before changes carried ids
        found = gateway.find_pipeline(change.name)
        if found is None:
            return
        pipeline_id, job_id = found.pipeline_id, found.schedule.job_id if found.schedule else None
    if with_job and job_id is not None:
        with contextlib.suppress(ObjectDoesNotExist):  # already gone
            gateway.delete_schedule(job_id)
    with contextlib.suppress(ObjectDoesNotExist):  # already gone
        gateway.delete_pipeline(str(pipeline_id), change.name)


def _create_pipeline(gateway: WorkspaceGateway, change: Change) -> PipelineIds:
    """Create the pipeline, or adopt the one an earlier run of this plan created; return its ids.

    Names are unique unless ``allow_duplicate_names`` (https://docs.databricks.com/api/workspace/pipelines/create),
    so a second create is refused; the refusal's code is not relied on: on any refusal, the pipeline is
    looked up by name, and the refusal stands if there is none.
    """
    want = change.pipeline()
    try:
        return PipelineIds(gateway.create_pipeline(want))  # a pipeline created this moment has no job
    except PermanentProvisioningError:
        existing = gateway.find_pipeline(change.name)
        if existing is None or not existing.pipeline_id:
            raise
    if existing.describe() != want.describe():
        gateway.update_pipeline(existing.pipeline_id, want)
    return PipelineIds(existing.pipeline_id, existing.schedule.job_id if existing.schedule else None)


def _found(gateway: WorkspaceGateway, name: str) -> PipelineState:
    """Look a pipeline up by name: for a change that does not carry its ids (a plan stored before they
    travelled, or a step run on its own)."""
    found = gateway.find_pipeline(name)
    if found is None or not found.pipeline_id:
        raise ObjectDoesNotExist(f"pipeline '{name}' does not exist")
    return found


def _schedule_task(gateway: WorkspaceGateway, change: Change, *, done: bool) -> Callable[[], Outcome]:
    def run() -> Outcome:
        outcome = Outcome(changes=[change])
        if change.action is Action.DELETE:
            if not done and change.job_id is not None:
                with contextlib.suppress(ObjectDoesNotExist):  # already gone
                    gateway.delete_schedule(change.job_id)
            outcome.pipelines[change.name] = PipelineIds(change.pipeline_id)
            return outcome
        pipeline_id, job_id = change.pipeline_id, change.job_id
        if pipeline_id is None:  # neither the plan nor step 7 knew it
            found = _found(gateway, change.name)
            pipeline_id, job_id = found.pipeline_id, found.schedule.job_id if found.schedule else None
        want = schedule_from(change.new)
        assert want is not None and pipeline_id is not None
        tags = dict(change.new.get("tags") or {})
        if job_id is None:
            job_id = gateway.create_schedule(change.name, pipeline_id, want, tags=tags)
        else:  # an update, or a create an earlier run of this plan already made (reset is idempotent)
            gateway.reset_schedule(job_id, change.name, pipeline_id, want, tags=tags)
        outcome.pipelines[change.name] = PipelineIds(pipeline_id, job_id)
        return outcome

    return run


def pipeline_ids(state: WorkspaceState) -> dict[str, PipelineIds]:
    """Return the ids of the pipelines a read of the workspace found, by name (each step's
    `StepResult.pipelines` then says what changed)."""
    return {
        name: PipelineIds(pipeline.pipeline_id, pipeline.schedule.job_id if pipeline.schedule else None)
        for name, pipeline in state.pipelines.items()
    }


def hand_over(plan: Plan, result: StepResult) -> Plan:
    """Return the plan for the steps after ``result``'s: the schedule changes of the pipelines that step
    created or replaced carry their new ids, so that step 8 needs no lookup."""
    if not result.pipelines:
        return plan
    changes = []
    for change in plan.changes:
        ids = result.pipelines.get(change.name)
        if change.section is Section.SCHEDULES and change.action is not Action.DELETE and ids and ids.pipeline_id:
            change = dataclasses.replace(
                change, new={**change.new, "pipeline_id": ids.pipeline_id, "job_id": ids.job_id})
        changes.append(change)
    return dataclasses.replace(plan, changes=tuple(changes))
