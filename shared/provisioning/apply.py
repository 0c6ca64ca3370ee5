"""Carry a `Plan` out, one section at a time, idempotently and concurrently.

One function per plan section; `shared.provisioning.steps` names the job step that runs each, in order
(the pipelines and schedules sections are carried out by `shared.provisioning.apply_pipelines`):

=================  ===================================================  ==========================
section            NEW / UPDATE                                         DELETE (runs first → last)
=================  ===================================================  ==========================
``recipients``     create recipients, update comments, IP lists,        delete recipients (last)
                   properties and federation policies
``shares``         create shares, update comments                       delete shares
``data_objects``   remove, add, then update objects, ≤100 per call      nothing (objects go with
                                                                        their share)
``grants``         grant / revoke SELECT, one call per share            revoke grants
``pipelines``      create, update (whole spec), replace or delete       delete pipelines
                   pipelines (a deleted one takes its job with it)
``schedules``      create, reset or delete each pipeline's job          delete jobs (first)
=================  ===================================================  ==========================

Idempotence: every step may be re-run, and a plan made before a crash can be re-applied. A create that
meets an equal object adopts it, an ADD of an object already shared and a REMOVE of an absent one count
as done (checked by reading the share back, never by parsing messages), deletes of missing objects are
no-ops. The safest recovery is still to re-plan (read the state again) and apply the new plan.

Concurrency: calls on different recipients or shares run in up to ``concurrency`` threads; the calls of one
share run in order (removals before additions). The workspace-wide bound across share packs lives in the
gateway (`clients.WorkspaceClients.gateway`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from shared.platform.logging import get_logger
from shared.provisioning.errors import (
    ObjectAlreadyExists,
    ObjectDoesNotExist,
    PermanentProvisioningError,
    PlanConflict,
    ProvisioningError,
)
from shared.provisioning.gateway import WorkspaceGateway
from shared.provisioning.pipeline_state import PipelineIds
from shared.provisioning.plan import MAX_UPDATES_PER_CALL, Action, Change, Plan, Section
from shared.provisioning.sharing_diff import recipient_differences
from shared.provisioning.workspace_state import TOKEN, RecipientCreated, SharedObjectState, ShareState
from shared.share_pack_file.model import FederationPolicySpec, Strategy

log = get_logger(__name__)

__all__ = [
    "Outcome",
    "StepResult",
    "apply_data_objects",
    "apply_grants",
    "apply_recipients",
    "apply_shares",
    "batch_object_changes",
    "run_tasks",
    "section_changes",
]

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    Attributes:
        step: the plan section the step carried out.
        changes: the plan's changes of this step that are now in effect (for audit rows), whether this run
            or an interrupted earlier run of the same plan made them.
        activation_links: recipient name → activation link of the D2O recipients created (or found
            created but never activated). They are credentials: hand them to the notification store only;
            they are left out of ``repr`` and `to_dict`. A link may repeat one an earlier attempt delivered.
        pipelines: pipeline name → its ids after this step, for each pipeline whose ids the step set
            (created, replaced, deleted, scheduled or unscheduled).
        recipient_ids: recipient name → the id Databricks gave it, for each recipient the step created
            (or found created by an earlier attempt).
    """

    step: Section
    changes: tuple[Change, ...] = ()
    activation_links: Mapping[str, str] = field(default_factory=dict, repr=False)
    pipelines: Mapping[str, PipelineIds] = field(default_factory=dict)
    recipient_ids: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able data, without the activation links themselves."""
        return {
            "step": str(self.step),
            "changes": [change.to_dict() for change in self.changes],
            "activation_links_for": sorted(self.activation_links),
        }


@dataclass
class Outcome:
    """What one task of a step did; `run_tasks` merges them into the step's `StepResult`."""

    changes: list[Change] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, PipelineIds] = field(default_factory=dict)
    recipient_ids: dict[str, str] = field(default_factory=dict)


def apply_recipients(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Create, update or delete recipients; fetch links of created but never activated D2O recipients."""
    tasks = [_recipient_task(gateway, change) for change in section_changes(plan, Section.RECIPIENTS)]
    if plan.strategy is Strategy.NEW:
        tasks += [_activation_task(gateway, name) for name in plan.pending_activations]
    return run_tasks(Section.RECIPIENTS, tasks, concurrency=concurrency)


def apply_shares(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Create shares, update their comments, or delete them."""
    tasks = [_share_task(gateway, change) for change in section_changes(plan, Section.SHARES)]
    return run_tasks(Section.SHARES, tasks, concurrency=concurrency)


def apply_data_objects(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Remove, then add data objects, in calls of at most 100 per share."""
    groups = _by_share(section_changes(plan, Section.DATA_OBJECTS))
    tasks = [_objects_task(gateway, share, group) for share, group in groups.items()]
    return run_tasks(Section.DATA_OBJECTS, tasks, concurrency=concurrency)


def apply_grants(plan: Plan, gateway: WorkspaceGateway, *, concurrency: int = 8) -> StepResult:
    """Grant and revoke SELECT, one call per share."""
    groups = _by_share(section_changes(plan, Section.GRANTS))
    tasks = [_grants_task(gateway, share, group) for share, group in groups.items()]
    return run_tasks(Section.GRANTS, tasks, concurrency=concurrency)


def section_changes(plan: Plan, section: Section) -> tuple[Change, ...]:
    """The section's changes, refusing a plan with conflicts (it must never be applied)."""
    if not plan.can_apply:
        raise PlanConflict(plan.conflicts)
    return plan.changes_for(section)


def run_tasks(step: Section, tasks: Sequence[Callable[[], Outcome]], *, concurrency: int) -> StepResult:
    """Run independent tasks, at most ``concurrency`` at a time; on failure let running ones finish."""
    outcomes: list[Outcome] = []
    failures: list[BaseException] = []
    if len(tasks) <= 1 or concurrency <= 1:
        for task in tasks:
            try:
                outcomes.append(task())
            except Exception as exc:
                failures.append(exc)
                break
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(tasks))) as pool:
            # Each task runs in a copy of this thread's context, so its log lines keep the pack's ids and its
            # calls stay in the step's trace span.
            futures: list[Future[Outcome]] = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if pending and any(f.exception() is not None for f in done):
                for future in pending:
                    future.cancel()  # not started yet: no point calling a workspace that just refused
            wait(futures)
            for future in futures:
                if future.cancelled():
                    continue
                error = future.exception()
                if error is None:
                    outcomes.append(future.result())
                else:
                    failures.append(error)
    result = StepResult(
        step=step,
        changes=tuple(change for outcome in outcomes for change in outcome.changes),
        activation_links={name: link for outcome in outcomes for name, link in outcome.links.items()},
        pipelines={name: ids for outcome in outcomes for name, ids in outcome.pipelines.items()},
        recipient_ids={name: i for outcome in outcomes for name, i in outcome.recipient_ids.items()},
    )
    if failures:
        error = _most_telling(failures)
        if isinstance(error, ProvisioningError):
            error.partial_result = result
        raise error
    return result


def _most_telling(failures: Iterable[BaseException]) -> BaseException:
    """Pick the failure to report: a permanent one (retrying cannot help) before a transient one."""
    failures = list(failures)
    for kind in (PermanentProvisioningError, ProvisioningError):
        for failure in failures:
            if isinstance(failure, kind):
                return failure
    return failures[0]


def _by_share(changes: Iterable[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.share or "", []).append(change)
    return grouped


# -- recipients ---------------------------------------------------------------------------------------


def _recipient_task(gateway: WorkspaceGateway, change: Change) -> Callable[[], Outcome]:
    def run() -> Outcome:
        outcome = Outcome(changes=[change])
        if change.action is Action.CREATE:
            kind = "D2O" if change.recipient().authentication_type == TOKEN else "D2D"
            log.info(f"Creating {kind} recipient: {change.name}", recipient=change.name, recipient_type=kind)
            created = _create_recipient(gateway, change)
            if created.activation_link:
                outcome.links[change.name] = created.activation_link
            if created.databricks_id:
                outcome.recipient_ids[change.name] = created.databricks_id
        elif change.action is Action.UPDATE:
            if change.new.keys() & {"comment", "allowed_ips", "properties"}:
                gateway.update_recipient(
                    change.name,
                    comment=_comment_update(change),
                    allowed_ips=frozenset(change.new["allowed_ips"]) if "allowed_ips" in change.new else None,
                    properties=change.new.get("properties"),
                )
            if "federation_policies" in change.new:
                want = [FederationPolicySpec.from_dict(p) for p in change.new["federation_policies"]]
                _sync_policies(gateway, change.name, want)
        elif change.action is Action.DELETE:
            log.info(f"Deleting recipient: {change.name}", recipient=change.name)
            with contextlib.suppress(ObjectDoesNotExist):  # already gone
                gateway.delete_recipient(change.name)
        return outcome

    return run


def _comment_update(change: Change) -> str | None:
    """Return the comment an UPDATE sets: None leaves it as is, "" clears it (a restored "no comment").

    The SDK leaves out a None comment, so only an empty string reaches Databricks as a clearing.
    """
    if "comment" not in change.new:
        return None
    return change.new["comment"] or ""


def _create_recipient(gateway: WorkspaceGateway, change: Change) -> RecipientCreated:
    """Create a recipient, or adopt an equal one an earlier attempt created; return its link and id."""
    recipient = change.recipient()
    days = change.new.get("token_expiry_days")
    if recipient.authentication_type == TOKEN and days:
        recipient = dataclasses.replace(recipient, expiration_time=int(time.time() * 1000) + days * _DAY_MS)
    try:
        created = gateway.create_recipient(recipient)
    except ObjectAlreadyExists:
        existing = gateway.get_recipient(change.name)
        # Its policies may be half made by an earlier attempt: they are completed below, not compared.
        if existing is None or recipient_differences(dataclasses.replace(recipient, federation_policies=()),
                                                     dataclasses.replace(existing, federation_policies=())):
            raise  # another recipient (e.g. one per D2D metastore) or a different definition
        pending = existing.authentication_type == TOKEN and not existing.activated
        link = gateway.activation_link(change.name) if pending else None
        created = RecipientCreated(activation_link=link, databricks_id=existing.databricks_id)
    if recipient.federation_policies:
        _sync_policies(gateway, change.name, recipient.federation_policies)
    return created


def _sync_policies(gateway: WorkspaceGateway, name: str, want: Sequence[FederationPolicySpec]) -> None:
    """Make a recipient's federation policies ``want``: there is no update, so a changed policy is deleted
    and created again (https://docs.databricks.com/api/workspace/recipientfederationpolicies)."""
    have = {policy.name: policy for policy in gateway.list_federation_policies(name)}
    wanted = {policy.name: policy for policy in want}
    for policy_name, policy in sorted(have.items()):
        if wanted.get(policy_name) != policy:
            with contextlib.suppress(ObjectDoesNotExist):  # already gone
                gateway.delete_federation_policy(name, policy_name)
    for policy_name, policy in sorted(wanted.items()):
        if have.get(policy_name) != policy:
            gateway.create_federation_policy(name, policy)


def _activation_task(gateway: WorkspaceGateway, name: str) -> Callable[[], Outcome]:
    def run() -> Outcome:
        link = gateway.activation_link(name)
        return Outcome(links={name: link} if link else {})

    return run


# -- shares -------------------------------------------------------------------------------------------


def _share_task(gateway: WorkspaceGateway, change: Change) -> Callable[[], Outcome]:
    def run() -> Outcome:
        if change.action is Action.CREATE:
            log.info(f"Creating share: {change.name}", share=change.name)
            comment = change.new.get("comment")
            try:
                gateway.create_share(change.name, comment=comment)
            except ObjectAlreadyExists:
                existing = gateway.get_share(change.name)
                if existing is None or existing.comment != comment:
                    raise
        elif change.action is Action.UPDATE:
            gateway.update_share_comment(change.name, _comment_update(change) or "")
        elif change.action is Action.DELETE:
            log.info(f"Deleting share: {change.name}", share=change.name)
            with contextlib.suppress(ObjectDoesNotExist):  # already gone
                gateway.delete_share(change.name)
        return Outcome(changes=[change])

    return run


def _objects_task(gateway: WorkspaceGateway, share: str, changes: Sequence[Change]) -> Callable[[], Outcome]:
    def run() -> Outcome:
        outcome = Outcome()
        for batch in batch_object_changes(changes):
            _apply_object_batch(gateway, share, batch)
            outcome.changes.extend(batch)
        return outcome

    return run


def _apply_object_batch(gateway: WorkspaceGateway, share: str, batch: Sequence[Change]) -> None:
    """Send one batch; if the share refuses because part of it is already done, send the rest."""
    pending = list(batch)
    while pending:
        try:
            gateway.update_share_objects(
                share,
                remove=[c.data_object() for c in pending if c.action is Action.REMOVE],
                add=[c.data_object() for c in pending if c.action is Action.ADD],
                update=[c.data_object() for c in pending if c.action is Action.UPDATE],
            )
            return
        except (ObjectAlreadyExists, ObjectDoesNotExist):
            state = gateway.get_share(share)
            if state is None:
                raise
            remaining = [c for c in pending if not _object_change_done(c, state)]
            if len(remaining) == len(pending):
                raise  # nothing was done already: the refusal is real (e.g. a missing table)
            pending = remaining


def _object_change_done(change: Change, state: ShareState) -> bool:
    obj = change.data_object()
    if change.action is Action.UPDATE:  # done when the shared object already holds the new definition
        return any(_same_object(obj, have) and (have.partitions, bool(have.cdf_enabled), have.start_version)
                   == (obj.partitions, bool(obj.cdf_enabled), obj.start_version) for have in state.objects)
    present = any(_same_object(obj, have) for have in state.objects)
    return present if change.action is Action.ADD else not present


def _same_object(want: SharedObjectState, have: SharedObjectState) -> bool:
    return want.name == have.name and want.alias == have.alias


# -- grants -------------------------------------------------------------------------------------------


def _grants_task(gateway: WorkspaceGateway, share: str, changes: Sequence[Change]) -> Callable[[], Outcome]:
    def run() -> Outcome:
        grant = [c.name for c in changes if c.action is Action.GRANT]
        revoke = [c.name for c in changes if c.action is Action.REVOKE]
        try:
            gateway.update_share_grants(share, grant=grant, revoke=revoke)
        except ObjectDoesNotExist:
            # A revoke naming a recipient or share that is gone already is done; a grant is not.
            current = gateway.get_share_grantees(share)
            if current is None and grant:
                raise
            still_held = [r for r in revoke if current is not None and r in current]
            if still_held == revoke:
                raise
            if grant or still_held:
                gateway.update_share_grants(share, grant=grant, revoke=still_held)
        return Outcome(changes=list(changes))

    return run


# -- batching -------------------------------------------------------------------------------------------


def batch_object_changes(changes: Sequence[Change], *, limit: int = MAX_UPDATES_PER_CALL) -> list[list[Change]]:
    """Split one share's object changes into calls of at most ``limit`` updates, removals first, updates last.

    Independent removals and additions share a call (fewest calls), but an addition that reuses the name
    or alias of a removal waits for a later call: one call may not touch the same object twice, and the
    removal must have happened before the addition.
    """
    ordered = [c for action in (Action.REMOVE, Action.ADD, Action.UPDATE) for c in changes if c.action is action]
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
