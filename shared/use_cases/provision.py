"""Provisioning one share pack: the worker's job, as the eight reported steps of `shared.provisioning.steps`.

    1 tenant, 2 project, (plan), 3 recipients, 4 shares, 5 data objects, 6 grants, 7 pipelines,
    8 schedules, then the outcome is recorded ("Step 8/8: Completed (...)")

This module is the orchestration only: the order of the steps, when to stop, and what a failure means.
What is written to the database is `provision_recording`'s job; which tenant and project a pack belongs
to is `provision_resolution`'s.

Every step writes `provisioning_status = "Step k/8: ..."` as a new version of the share pack, so the pack's
history is its timeline. The plan is made from what the workspace really holds on *every* attempt, which is
what makes the job resumable: after a crash, a `kill -9` or a fix of the cause, the next attempt plans only
what is still missing and converges, with no duplicates, and first audits what the crashed attempt did but
never recorded. Two workers never run one pack at once: a PostgreSQL advisory lock, held on its own
connection for the whole job, decides (and dies with the process).

Failures are classified once, by the engine: transient ones (throttling, 5xx, timeouts) raise `RetryLater`
so the message comes back; permanent ones end the pack FAILED with Databricks' own message and the step.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.access.approval import missing_approval
from shared.access.ownership import Owners, owned_removals, owned_state, ownership_conflicts, recorded_owners
from shared.db import advisory_lock, lock_key
from shared.errors import ConfigurationError, WorkflowError
from shared.history import History
from shared.logging import get_logger
from shared.models import SharePack
from shared.notifications.activation_links import ActivationLinkCipher
from shared.provisioning import steps
from shared.provisioning.apply import hand_over, pipeline_ids
from shared.provisioning.errors import ProvisioningError, TransientProvisioningError
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.plan import Action, Entity, Plan, make_plan, make_rollback_plan
from shared.provisioning.steps import Step
from shared.provisioning.summary import plan_counts
from shared.provisioning.workspace_state import WorkspaceState
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import SharePackSpec, Strategy
from shared.status import SharePackStatus
from shared.use_cases.lifecycle import rollback_removals
from shared.use_cases.provision_recording import Attempt, Recorder
from shared.use_cases.provision_resolution import OwnerResolver

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


class JobInterrupted(WorkflowError):
    """Shutdown was requested (or the message was lost) between steps; another attempt will resume."""


class StopSignal(Protocol):
    def should_stop(self) -> bool: ...


@dataclass(frozen=True)
class _Pack:
    """What the job needs of the pack it runs, read once at the start."""

    share_pack_id: uuid.UUID
    spec: SharePackSpec
    workspace_url: str
    request_id: str | None
    # Registered at upload (admission); None only for packs stored before tenants were registered.
    tenant_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    #: For a rollback: what later configurations added, to be removed (a DELETE pack); else None.
    removals: SharePackSpec | None = None

    @property
    def strategy(self) -> Strategy:
        return self.spec.metadata.strategy


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
            JobInterrupted: `stop` asked to stop between steps.
        """
        with advisory_lock(self.engine, lock_key(command.share_pack_id)) as acquired:
            if not acquired:
                raise SharePackBusy("another worker is provisioning this share pack")
            pack = self._load(command)
            if pack is not None:
                metadata = pack.spec.metadata
                with structlog.contextvars.bound_contextvars(tenant=metadata.business_line,
                                                             project=metadata.project_name):
                    self._provision(pack, stop)

    def mark_failed(self, share_pack_id: uuid.UUID, reason: str) -> None:
        """Record a pack as FAILED for a reason found outside the job (e.g. a poisoned message)."""
        self.recorder.fail_if_in_progress(share_pack_id, reason)

    # -- the steps ------------------------------------------------------------------------------------

    def _load(self, command: ProvisionSharePack) -> _Pack | None:
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
            loaded = _Pack(
                command.share_pack_id, spec, row.workspace_url, command.request_id, row.tenant_id, row.project_id,
                removals=rollback_removals(row.config),
            )
        if unapproved is not None:
            self.recorder.fail(command.share_pack_id, unapproved)
            return None
        return loaded

    def _provision(self, pack: _Pack, stop: StopSignal) -> None:
        record = self.recorder
        record.status(pack.share_pack_id, steps.TENANT.status_line(pack.strategy))
        log.info(_step_line(pack, steps.TENANT), step=steps.TENANT.number)
        tenant_id = pack.tenant_id or self.resolver.tenant(pack.spec)
        self._check_stop(pack, stop, steps.PROJECT)
        record.status(pack.share_pack_id, steps.PROJECT.status_line(pack.strategy), tenant_id=tenant_id)
        log.info(_step_line(pack, steps.PROJECT), step=steps.PROJECT.number)
        project_id = pack.project_id or self.resolver.project(pack.spec, tenant_id)
        self._check_stop(pack, stop, steps.RECIPIENTS)
        attempt = Attempt(pack.share_pack_id, pack.spec, pack.workspace_url, pack.request_id, project_id)

        first = steps.plan_steps(pack.strategy)[0]
        try:
            gateway = self.gateway_for(pack.workspace_url)
        except ConfigurationError as exc:  # e.g. no credentials for this workspace: retrying cannot help
            record.fail(pack.share_pack_id, f"{first.status_line(pack.strategy)} failed: {exc.message}")
            return
        step = first
        ids: dict[str, str] = {}  # recipient name → Databricks id, as read and as created
        try:
            previous = record.previous_plan(pack.share_pack_id)
            state = gateway.read_state(pack.spec)
            owners = self._owners(pack, project_id, previous[0] if previous else None)
            refused = ownership_conflicts(pack.spec, state, owners, project_id)
            if refused:
                reason = "The share pack conflicts with objects its project does not own: " + "; ".join(refused)
                record.fail(pack.share_pack_id, reason)
                return
            removals, left_alone = None, []
            if pack.removals is not None:  # a rollback removes only what its project owns
                state = state.merged(gateway.read_state(pack.removals))
                removals, left_alone = owned_removals(pack.removals, state, owners, project_id)
            plan = _make_plan(pack.spec, removals, owned_state(state, owners, project_id))
            if previous is not None:  # an earlier attempt: audit what it did but died before recording
                record.reconcile(*previous, plan, workspace_url=pack.workspace_url, request_id=pack.request_id)
            record.plan_ready(
                pack.share_pack_id, first.status_line(pack.strategy, " (plan ready)"), plan, project_id=project_id
            )
            if not plan.can_apply:
                conflicts = "; ".join(plan.conflicts)
                record.fail(pack.share_pack_id, f"The workspace conflicts with the share pack: {conflicts}")
                return
            made = pipeline_ids(state)  # the pipelines' ids as planned, then as each step leaves them
            ids.update({name: r.databricks_id for name, r in state.recipients.items() if r.databricks_id})
            for step in steps.plan_steps(pack.strategy):
                self._check_stop(pack, stop, step)
                record.status(pack.share_pack_id, step.status_line(pack.strategy))
                log.info(_step_line(pack, step), step=step.number)
                with tracing.span(f"step {step.label}", step=step.label), \
                        metrics.STEP_DURATION.labels(step.label).time():
                    result = step.run(plan, gateway, concurrency=self.concurrency)
                ids.update(result.recipient_ids)
                record.step(result, attempt, ids)
                plan, made = hand_over(plan, result), {**made, **result.pipelines}
        except ProvisioningError as exc:
            if exc.partial_result is not None:  # what the failed step did complete is recorded too
                record.step(exc.partial_result, attempt, {**ids, **exc.partial_result.recipient_ids})
            if not isinstance(exc, TransientProvisioningError):
                record.fail(pack.share_pack_id, _failure_message(step, pack.strategy, exc))
                return
            reason = f"{step.status_line(pack.strategy)} will be retried: {exc.message}"
            record.status(pack.share_pack_id, reason)
            raise RetryLater(
                reason, retry_after_seconds=exc.retry_after_seconds
            ) from exc

        summary = ", ".join([counts for counts in [plan_counts(plan.to_dict())] if counts] + left_alone)
        record.complete(
            attempt,
            removed=removals,
            provisioning_status=f"Step {steps.TOTAL_STEPS}/{steps.TOTAL_STEPS}: Completed "
            f"({summary or 'no changes needed'})",
            pipelines=made,
            recipient_ids=ids,
        )
        log.info("provision.completed", changes=len(plan.changes))

    def _owners(self, pack: _Pack, project_id: uuid.UUID, previous: Plan | None) -> Owners:
        """Who owns what the pack (and a rollback's removals) names, as recorded, plus what an interrupted
        attempt of this pack created (this project's, though not recorded yet)."""
        specs = [pack.spec] if pack.removals is None else [pack.spec, pack.removals]
        with self.session_factory() as session:
            owners = recorded_owners(session, pack.workspace_url, *specs)
        if previous is None:
            return owners
        created = [c for c in previous.changes if c.action in (Action.CREATE, Action.REPLACE)]
        return owners.with_created(
            project_id, **{kind: [c.name for c in created if c.entity is entity] for kind, entity in
                           (("recipients", Entity.RECIPIENT), ("shares", Entity.SHARE),
                            ("pipelines", Entity.PIPELINE))}
        )

    def _check_stop(self, pack: _Pack, stop: StopSignal, next_step: Step) -> None:
        if stop.should_stop():
            self.recorder.status(
                pack.share_pack_id, f"Interrupted before step {next_step.number}/{steps.TOTAL_STEPS}; will resume"
            )
            raise JobInterrupted("shutdown requested between steps")


def _step_line(pack: _Pack, step: Step) -> str:
    """The step's status line for the log, naming the tenant and project it resolves (as operators grep)."""
    names = {steps.TENANT.number: pack.spec.metadata.business_line,
             steps.PROJECT.number: pack.spec.metadata.project_name}
    named = names.get(step.number)
    return f"{step.status_line(pack.strategy)} '{named}'" if named else step.status_line(pack.strategy)


def _make_plan(spec: SharePackSpec, removals: SharePackSpec | None, state: WorkspaceState) -> Plan:
    """Plan the pack from what the workspace holds now (a rollback also removes what it must)."""
    if removals is None:
        return make_plan(spec, state)
    return make_rollback_plan(spec, removals, state)


def _failure_message(step: Step, strategy: Strategy, exc: ProvisioningError) -> str:
    code = f" [{exc.error_code}]" if getattr(exc, "error_code", None) else ""
    return f"{step.status_line(strategy)} failed: {exc.message}{code}"
