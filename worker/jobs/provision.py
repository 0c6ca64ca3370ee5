"""Provisioning one share pack: the worker's job, as the eight reported steps of `shared.provisioning.steps`.

    1 tenant, 2 project, (plan), 3 recipients, 4 shares, 5 data objects, 6 grants, 7 pipelines,
    8 schedules, then the outcome is recorded ("Step 8/8: Completed (...)")

This module is the orchestration only: the order of the steps, when to stop, and what a failure means.
What is written to the database is `provision_recording`'s job (the tables' rows, `provision_projection`'s);
which tenant and project a pack belongs to is `provision_resolution`'s.

Every step writes `provisioning_status = "Step k/8: ..."` as a new version of the share pack, so the pack's
history is its timeline. The plan is made from what the workspace really holds on *every* attempt, which is
what makes the job resumable: after a crash, a `kill -9` or a fix of the cause, the next attempt plans only
what is still missing and converges, with no duplicates, and first audits what the crashed attempt did but
never recorded. Two workers never run one pack at once: a PostgreSQL advisory lock, held on its own
connection for the whole job, decides (and dies with the process).

Failures are classified once, by the provisioner: transient ones (throttling, 5xx, timeouts) raise `RetryLater`
so the message comes back; permanent ones end the pack FAILED with Databricks' own message and the step.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.access.approval import missing_approval
from shared.access.ownership import Owners, owned_removals, owned_state, ownership_conflicts, recorded_owners
from shared.models import SharePack
from shared.models.history import History
from shared.notifications.activation_links import ActivationLinkCipher
from shared.platform import metrics, tracing
from shared.platform.db import advisory_lock, lock_key
from shared.platform.errors import ConfigurationError, WorkflowError
from shared.platform.logging import get_logger
from shared.platform.status import SharePackStatus
from shared.provisioning import steps
from shared.provisioning.apply_pipelines import hand_over, pipeline_ids
from shared.provisioning.diff import make_plan, make_rollback_plan
from shared.provisioning.errors import ProvisioningError, TransientProvisioningError
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.pipeline_state import PipelineIds
from shared.provisioning.plan import Action, Entity, Plan
from shared.provisioning.rollback import rollback_removals
from shared.provisioning.steps import Step
from shared.provisioning.summary import plan_counts
from shared.provisioning.workspace_state import WorkspaceState
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import SharePackSpec, Strategy
from worker.jobs.provision_attempt import Attempt, Outcome
from worker.jobs.provision_recording import AttemptRecords, PreviousPlan, Recorder, previous_plan
from worker.jobs.provision_resolution import OwnerResolver

log = get_logger(__name__)


class RetryLater(WorkflowError):
    """A transient failure: leave the message for a later attempt. How much later is the consumer's retry
    policy (`worker/retry_policy.py`); `retry_after_seconds` is the server's `Retry-After`, when it sent one
    (a floor for the back-off).
    """

    def __init__(self, message: str, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class SharePackBusy(RetryLater):
    """Another worker holds this pack's lock. The message must stay: if that worker dies, it is the only
    thing that brings the pack back, so it is hidden for a while instead of deleted."""


class ProvisioningInterrupted(WorkflowError):
    """Shutdown was requested (or the message was lost) between steps; another attempt will resume."""


class StopSignal(Protocol):
    def should_stop(self) -> bool: ...


@dataclass(frozen=True)
class _Loaded:
    """What the job reads of the pack it runs, once, at the start."""

    attempt: Attempt
    #: The plan an interrupted attempt stored, if any.
    previous: PreviousPlan | None
    #: The recorded owners of what the pack (and a rollback's removals) names.
    owners: Owners


@dataclass(frozen=True)
class _Planned:
    """An attempt's plan, and what it started from."""

    plan: Plan
    #: What a rollback removes (the part its project owns), else None; and a sentence per name it leaves.
    removals: SharePackSpec | None
    left_alone: list[str]
    #: The pipelines' and recipients' Databricks ids, as read.
    made: Mapping[str, PipelineIds]
    recipient_ids: Mapping[str, str]


@dataclass
class ProvisioningJob:
    """Runs share packs against their workspaces. One instance per worker process; thread-safe per call."""

    session_factory: sessionmaker[Session]
    engine: Engine
    gateway_for: Callable[[str], WorkspaceGateway]
    concurrency: int = 8
    performed_by: str = f"worker@{socket.gethostname()}"
    activation_links: ActivationLinkCipher | None = None
    recorder: Recorder = field(init=False)
    resolver: OwnerResolver = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.session_factory, self.performed_by, self.activation_links)
        self.resolver = OwnerResolver(self.session_factory, self.performed_by)

    def run(self, command: ProvisionSharePack, stop: StopSignal) -> None:
        """Provision the pack `command` names, unless it is unknown or finished already.

        Raises:
            SharePackBusy: another worker is provisioning this pack right now.
            RetryLater: a transient failure; the pack is still IN_PROGRESS.
            ProvisioningInterrupted: `stop` asked to stop between steps.
        """
        with advisory_lock(self.engine, lock_key(command.share_pack_id)) as acquired:
            if not acquired:
                raise SharePackBusy("another worker is provisioning this share pack")
            loaded = self._load(command)
            if loaded is not None:
                metadata = loaded.attempt.spec.metadata
                with structlog.contextvars.bound_contextvars(tenant=metadata.business_line,
                                                             project=metadata.project_name):
                    self._provision(loaded, stop)

    def mark_failed(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Record a pack as FAILED for a reason found outside the job (e.g. a poisoned message)."""
        self.recorder.fail_if_in_progress(share_pack_id, reason)

    # -- the steps ------------------------------------------------------------------------------------

    def _load(self, command: ProvisionSharePack) -> _Loaded | None:
        """Read the pack, the plan an earlier attempt left and the owners of what it names, in one transaction;
        a pack that lacks the approval it needs is failed in it."""
        with self.session_factory.begin() as session:
            row = History(session, SharePack).current(command.share_pack_id)
            if row is None:
                log.warning("provision.unknown_share_pack")
                return None
            if row.share_pack_status != SharePackStatus.IN_PROGRESS:
                log.info("provision.skipped", reason=f"share pack is {row.share_pack_status}")
                return None
            spec = SharePackSpec.from_dict(row.config)
            unapproved = missing_approval(session, row, spec)
            if unapproved is not None:
                self.recorder.fail(session, command.share_pack_id, unapproved)
                return None
            attempt = Attempt(command.share_pack_id, spec, row.workspace_url, command.request_id, row.tenant_id,
                              row.project_id, removals=rollback_removals(row.config))
            specs = [spec] if attempt.removals is None else [spec, attempt.removals]
            owners = recorded_owners(session, row.workspace_url, *specs)
            return _Loaded(attempt, previous_plan(row.plan), owners)

    def _provision(self, loaded: _Loaded, stop: StopSignal) -> None:
        """Run the attempt, committing its records before each call to the workspace and at the end."""
        records = self.recorder.records(loaded.attempt)
        try:
            self._steps(loaded, records, stop)
        except BaseException:
            # A bug or a cold shutdown: keep what the steps so far did (a lost audit row would be reconciled
            # by the next attempt, but an activation link would be lost), without hiding the original error.
            try:
                records.commit()
            except Exception:
                log.warning("provision.records_not_written", exc_info=True)
            raise
        records.commit()

    def _steps(self, loaded: _Loaded, records: AttemptRecords, stop: StopSignal) -> None:
        attempt = self._resolve(records, stop)
        strategy = attempt.strategy
        first = steps.plan_steps(strategy)[0]
        try:
            gateway = self.gateway_for(attempt.workspace_url)
        except ConfigurationError as exc:  # e.g. no credentials for this workspace: retrying cannot help
            records.fail(f"{first.status_line(strategy)} failed: {exc.message}")
            return
        step = first
        ids: dict[str, str] = {}  # recipient name → Databricks id, as read and as created
        try:
            records.commit()  # where the pack stands is visible while the workspace is read
            planned = self._plan(loaded, attempt, gateway, records)
            if planned is None:
                return
            plan = planned.plan
            made = dict(planned.made)  # the pipelines' ids as planned, then as each step leaves them
            ids.update(planned.recipient_ids)
            for step in steps.plan_steps(strategy):
                self._check_stop(records, stop, step)
                records.status(step.status_line(strategy))
                records.commit()  # what the last step did, and where this one starts, before it changes anything
                log.info(_step_line(attempt, step), step=step.number)
                with tracing.span(f"step {step.label}", step=step.label), \
                        metrics.STEP_DURATION.labels(step.label).time():
                    result = step.run(plan, gateway, concurrency=self.concurrency)
                ids.update(result.recipient_ids)
                records.step(result, ids)
                plan, made = hand_over(plan, result), {**made, **result.pipelines}
        except ProvisioningError as exc:
            if exc.partial_result is not None:  # what the failed step did complete is recorded too
                records.step(exc.partial_result, {**ids, **exc.partial_result.recipient_ids})
            if not isinstance(exc, TransientProvisioningError):
                records.fail(_failure_message(step, strategy, exc))
                return
            reason = f"{step.status_line(strategy)} will be retried: {exc.message}"
            records.status(reason)
            records.commit()
            raise RetryLater(reason, retry_after_seconds=exc.retry_after_seconds) from exc

        summary = ", ".join([counts for counts in [plan_counts(plan.to_dict())] if counts] + planned.left_alone)
        records.complete(Outcome(
            provisioning_status=f"Step {steps.TOTAL_STEPS}/{steps.TOTAL_STEPS}: Completed "
            f"({summary or 'no changes needed'})",
            pipelines=made,
            recipient_ids=ids,
            removed=planned.removals,
        ))
        log.info("provision.completed", changes=len(plan.changes))

    def _resolve(self, records: AttemptRecords, stop: StopSignal) -> Attempt:
        """Steps 1 and 2: the attempt with its tenant and project (found or created when the pack predates
        their registration, each in a transaction of its own)."""
        attempt = records.attempt
        records.status(steps.TENANT.status_line(attempt.strategy))
        log.info(_step_line(attempt, steps.TENANT), step=steps.TENANT.number)
        tenant_id = attempt.tenant_id
        if tenant_id is None:
            records.commit()
            tenant_id = self.resolver.tenant(attempt.spec)
        self._check_stop(records, stop, steps.PROJECT)
        records.status(steps.PROJECT.status_line(attempt.strategy), tenant_id=tenant_id)
        log.info(_step_line(attempt, steps.PROJECT), step=steps.PROJECT.number)
        project_id = attempt.project_id
        if project_id is None:
            records.commit()
            project_id = self.resolver.project(attempt.spec, tenant_id)
        self._check_stop(records, stop, steps.RECIPIENTS)
        records.attempt = replace(attempt, tenant_id=tenant_id, project_id=project_id)
        return records.attempt

    def _plan(
        self, loaded: _Loaded, attempt: Attempt, gateway: WorkspaceGateway, records: AttemptRecords
    ) -> _Planned | None:
        """Plan the attempt from what the workspace holds and its project owns; None when it cannot go on (the
        pack is failed). First audits what an interrupted attempt did but never recorded."""
        project_id, strategy = attempt.project_id, attempt.strategy
        state = gateway.read_state(attempt.spec)
        owners = _with_created(loaded.owners, project_id, loaded.previous)
        refused = ownership_conflicts(attempt.spec, state, owners, project_id)
        if refused:
            records.fail("The share pack conflicts with objects its project does not own: " + "; ".join(refused))
            return None
        removals, left_alone = None, []
        if attempt.removals is not None:  # a rollback removes only what its project owns
            state = state.merged(gateway.read_state(attempt.removals))
            removals, left_alone = owned_removals(attempt.removals, state, owners, project_id)
        plan = _make_plan(attempt.spec, removals, owned_state(state, owners, project_id))
        if loaded.previous is not None:  # an earlier attempt: audit what it did but died before recording
            records.reconcile(loaded.previous, plan)
        records.plan_ready(steps.plan_steps(strategy)[0].status_line(strategy, " (plan ready)"), plan)
        if not plan.can_apply:
            records.fail(f"The workspace conflicts with the share pack: {'; '.join(plan.conflicts)}")
            return None
        recipient_ids = {name: r.databricks_id for name, r in state.recipients.items() if r.databricks_id}
        return _Planned(plan, removals, left_alone, pipeline_ids(state), recipient_ids)

    def _check_stop(self, records: AttemptRecords, stop: StopSignal, next_step: Step) -> None:
        if stop.should_stop():
            records.status(f"Interrupted before step {next_step.number}/{steps.TOTAL_STEPS}; will resume")
            records.commit()
            raise ProvisioningInterrupted("shutdown requested between steps")


def _with_created(owners: Owners, project_id: uuid.UUID | None, previous: PreviousPlan | None) -> Owners:
    """The recorded owners plus what an interrupted attempt of this pack created (its project's, though not
    recorded yet)."""
    if previous is None or project_id is None:
        return owners
    created = [c for c in previous.plan.changes if c.action in (Action.CREATE, Action.REPLACE)]

    def names(entity: Entity) -> dict[str, uuid.UUID | None]:
        return dict.fromkeys((c.name for c in created if c.entity is entity), project_id)

    return Owners(
        recipients={**owners.recipients, **names(Entity.RECIPIENT)},
        shares={**owners.shares, **names(Entity.SHARE)},
        pipelines={**owners.pipelines, **names(Entity.PIPELINE)},
        released_pipelines=owners.released_pipelines,
    )


def _step_line(attempt: Attempt, step: Step) -> str:
    """The step's status line for the log, naming the tenant and project it resolves (as operators grep)."""
    names = {steps.TENANT.number: attempt.spec.metadata.business_line,
             steps.PROJECT.number: attempt.spec.metadata.project_name}
    named = names.get(step.number)
    return f"{step.status_line(attempt.strategy)} '{named}'" if named else step.status_line(attempt.strategy)


def _make_plan(spec: SharePackSpec, removals: SharePackSpec | None, state: WorkspaceState) -> Plan:
    """Plan the pack from what the workspace holds now (a rollback also removes what it must)."""
    if removals is None:
        return make_plan(spec, state)
    return make_rollback_plan(spec, removals, state)


def _failure_message(step: Step, strategy: Strategy, exc: ProvisioningError) -> str:
    code = f" [{exc.error_code}]" if getattr(exc, "error_code", None) else ""
    return f"{step.status_line(strategy)} failed: {exc.message}{code}"
