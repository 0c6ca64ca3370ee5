"""What a pack's configurations are, and what a rollback to one of them restores, removes and risks.

Every status change of a share pack is a version (its history is its timeline), but only some versions
carry a new *configuration*: the upload, each revision and each rollback. Those are what a rollback can
return to, unless an approver declined them. Nothing here writes: `shared.use_cases.transitions` stores
and queues what these functions decide.

A rollback to configuration N stores N's pack as an UPDATE (what N had is re-created or restored
exactly, IP lists and comments included) plus a DELETE of what later configurations added that N did not
have (stored as `shared.provisioning.rollback` says; planned by `shared.provisioning.diff.make_rollback_plan`).
Its plan is made against the workspace when the rollback is asked for, so it can be shown before it is confirmed and
stored (marked `PLAN_PREVIEW`) for `GET .../plan` at once; the worker plans again when it applies it,
since the workspace may change in between. A workspace that cannot be read within the budget leaves the
plan to the worker, with a warning.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.access.ownership import rollback_preview_plan
from shared.access_expiry.rules import LAPSED_PREFIX
from shared.models import SharePack
from shared.platform.errors import Conflict, InvalidInput
from shared.platform.logging import get_logger
from shared.preflight import CatalogReader, WorkspaceUnreadable, read_within
from shared.provisioning.plan import Plan
from shared.provisioning.rollback import rollback_config
from shared.share_pack_file import Issue
from shared.share_pack_file.model import Metadata, SharePackSpec, Strategy

log = get_logger(__name__)

UPLOADED = "uploaded"
REVISED = "revision uploaded"
RETRIED = "retry"
APPROVED = "approved"
DECLINED = "declined"
ROLLBACK_PREFIX = "rollback to v"
#: Marks a stored plan as made at request time. It has no `made_at` on purpose: the worker takes only a
#: plan with one for an earlier attempt's (`Recorder.previous_plan`), and replaces this one with its own.
PLAN_PREVIEW = "preview"


def is_configuration(change_reason: str | None) -> bool:
    """Whether a version with this change reason stores a new configuration (not just a status)."""
    return change_reason in (UPLOADED, REVISED) or (change_reason or "").startswith((ROLLBACK_PREFIX, LAPSED_PREFIX))


@dataclass(frozen=True)
class Configuration:
    """One configuration version of a pack and the approvers' last word on it (None: no decision)."""

    version: int
    config: dict[str, Any]
    decision: str | None = None  # APPROVED or DECLINED
    decided_by: str | None = None


def configurations(session: Session, share_pack_id: uuid.UUID) -> list[Configuration]:
    """The configuration versions of a pack, oldest first, each with the decision taken on it.

    A decision is a version whose change reason is APPROVED or DECLINED; it decides the configuration
    stored last before it.
    """
    rows = session.execute(
        select(SharePack.version, SharePack.change_reason, SharePack.created_by, SharePack.config)
        .where(SharePack.share_pack_id == share_pack_id)
        .order_by(SharePack.version)
    )
    found: list[Configuration] = []
    for version, reason, by, config in rows:
        if is_configuration(reason):
            found.append(Configuration(version, config))
        elif reason in (APPROVED, DECLINED) and found:
            found[-1] = replace(found[-1], decision=reason, decided_by=by)
    return found


def rollback_targets(session: Session, share_pack_id: uuid.UUID, *, besides_current: bool = False) -> list[int]:
    """The configuration versions a pack may return to, oldest first: every one no approver declined
    (``besides_current``: but the latest, which a rollback would only repeat)."""
    known = configurations(session, share_pack_id)
    if besides_current:
        known = known[:-1]
    return [c.version for c in known if c.decision != DECLINED]


def rollback_target(session: Session, share_pack_id: uuid.UUID, to_version: int) -> RollbackTarget:
    """What returning to configuration ``to_version`` restores and removes.

    Raises:
        InvalidInput: ``to_version`` is not a configuration version of this pack.
        Conflict: an approver declined it.
    """
    known = configurations(session, share_pack_id)
    chosen = next((c for c in known if c.version == to_version), None)
    if chosen is None:
        listed = ", ".join(f"v{c.version}" for c in known)
        raise InvalidInput(
            f"Version {to_version} of share pack {share_pack_id} is not a configuration; "
            f"its configurations are {listed}"
        )
    if chosen.decision == DECLINED:
        raise Conflict(
            f"Version {to_version} of share pack {share_pack_id} was declined by an approver "
            f"({chosen.decided_by}); a declined configuration is never a rollback target"
        )
    target = SharePackSpec.from_dict(chosen.config)
    later = tuple(SharePackSpec.from_dict(c.config) for c in known if c.version > to_version)
    restore, remove = rollback_specs(target, later)
    return RollbackTarget(chosen, restore, remove, later)


@dataclass(frozen=True)
class RollbackTarget:
    """What a rollback to ``configuration`` restores and removes, and the configurations stored after it."""

    configuration: Configuration
    restore: SharePackSpec
    remove: SharePackSpec
    later: tuple[SharePackSpec, ...]

    def to_config(self) -> dict[str, Any]:
        """The configuration a rollback stores: the restored pack and what it removes."""
        return rollback_config(self.restore, self.remove, to_version=self.configuration.version)


@dataclass(frozen=True)
class RollbackPlanner:
    """Plans a rollback against its workspace within a time budget, so it can be shown before it is stored."""

    #: Read access to a workspace; None: no credentials, the worker plans.
    reader_for: Callable[[str], CatalogReader] | None = None
    #: How long a rollback request waits for the workspace before leaving its plan to the worker.
    budget_seconds: float = 3.0
    #: Where ownership is recorded: the preview shows only what the pack's project owns.
    session_factory: sessionmaker[Session] | None = None

    def plan(
        self, target: RollbackTarget, pack: SharePack, workspace_url: str
    ) -> tuple[Plan | None, tuple[Issue, ...]]:
        """Plan the rollback against the workspace within the budget; (None, warning) when it cannot."""
        reader_for, session_factory = self.reader_for, self.session_factory
        if reader_for is None or session_factory is None:
            reason = "no Databricks credentials are configured"
        else:
            def read_and_plan() -> Plan:
                reader = reader_for(workspace_url)
                state = reader.read_state(target.restore).merged(reader.read_state(target.remove))
                return rollback_preview_plan(session_factory, pack, target.restore, target.remove, state)

            try:
                return read_within(read_and_plan, budget_seconds=self.budget_seconds), ()
            except WorkspaceUnreadable as exc:
                reason = exc.reason
        log.warning("rollback.plan_pending", reason=reason)
        return None, (Issue(path="", message=f"Plan pending: {reason}; the worker plans the rollback when it "
                                             "applies it"),)


def widens_access(
    restore: SharePackSpec,
    current: SharePackSpec,
    *,
    plan: Plan | None = None,
    later: Iterable[SharePackSpec] = (),
) -> bool:
    """Whether going back to ``restore`` gives access the pack does not give now.

    It does when ``restore`` has any access fact ``current`` has not (`access_facts`: a recipient, a grant,
    a data object, an address that hears of the data, a pipeline) or opens a recipient's IP list: clears
    it or adds an address. The ``plan`` against the workspace says which IP lists open; without one (the
    workspace could not be read), any IP list a ``later`` configuration declared may be in force, so
    restoring one that is empty or not inside it counts.
    """
    if access_facts(restore) - access_facts(current):
        return True
    if plan is not None:
        return any(change.widens_ip_access for change in plan.changes)
    declared = {(r.name, frozenset(r.allowed_ips)) for spec in later for r in spec.recipients if r.allowed_ips}
    return any(
        name == recipient.name and (not recipient.allowed_ips or not set(recipient.allowed_ips) <= ips)
        for recipient in restore.recipients
        for name, ips in declared
    )


def access_facts(spec: SharePackSpec) -> frozenset[tuple[str, ...]]:
    """Everything a pack gives someone, one fact per tuple (a DELETE pack gives nothing).

    Recipients (with their type and metastore: another metastore is another party), grants of a share to a
    recipient, data objects of a share and which of them share their history, the e-mail addresses that
    receive an activation link or a pipeline's notifications, and pipelines with what they copy where.
    """
    if spec.metadata.strategy is Strategy.DELETE:
        return frozenset()
    facts: set[tuple[str, ...]] = set()
    for r in spec.recipients:
        facts.add(("recipient", r.name, r.type.value, r.metastore_id or ""))
        if r.email:
            facts.add(("email", r.name, r.email.lower()))
    for share in spec.shares:
        facts.update(("grant", share.name, recipient) for recipient in share.recipients)
        facts.update(("data_object", share.name, o.name) for o in share.data_objects)
        facts.update(("history", share.name, o.name) for o in share.data_objects if o.history)
    for p in spec.pipelines:
        facts.add(("pipeline", p.name, p.source_table or "", p.target_table or ""))
        facts.update(("email", p.name, address.lower()) for address in p.notification_list)
    return frozenset(facts)


def rollback_specs(target: SharePackSpec, later: Iterable[SharePackSpec]) -> tuple[SharePackSpec, SharePackSpec]:
    """Return (restore, remove): ``target`` as an UPDATE, and a DELETE of the names later configurations
    declared that ``target`` does not (a DELETE target restores nothing and removes its names too)."""
    later = list(later)
    deleting = target.metadata.strategy is Strategy.DELETE
    keep_recipients = set() if deleting else {r.name for r in target.recipients}
    keep_shares = set() if deleting else {s.name for s in target.shares}
    keep_pipelines = set() if deleting else {p.name for p in target.pipelines}
    sources = [*later, target] if deleting else later
    recipients = {r.name: r for spec in sources for r in spec.recipients if r.name not in keep_recipients}
    shares = {s.name: s for spec in sources for s in spec.shares if s.name not in keep_shares}
    pipelines = {p.name: p for spec in sources for p in spec.pipelines if p.name not in keep_pipelines}
    remove = SharePackSpec(
        metadata=replace(target.metadata, strategy=Strategy.DELETE),
        recipients=tuple(recipients.values()),
        shares=tuple(shares.values()),
        pipelines=tuple(pipelines.values()),
    )
    restore = SharePackSpec(
        metadata=Metadata(**{**vars(target.metadata), "strategy": Strategy.UPDATE}),
        recipients=() if deleting else target.recipients,
        shares=() if deleting else target.shares,
        pipelines=() if deleting else target.pipelines,
    )
    return restore, remove
