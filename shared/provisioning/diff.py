"""Diff a share pack against a workspace: `make_plan` and the rollback's `make_rollback_plan`. Pure — no I/O.

`make_plan` diffs the share pack against a `WorkspaceState` as *sets*: recipients and shares keyed by name,
data objects keyed by table name and alias (`shared_as`), grants keyed by (share, recipient). Ordering and
server-filled fields can therefore never cause a change, and a field the pack leaves unset is "don't care".
The sharing objects are diffed by `sharing_diff`, the pipelines and their schedules by `pipeline_diff`.

Strategies:

* NEW creates everything. A name that exists with a different definition is a *conflict* (the plan must not
  be applied; we never silently switch to UPDATE). What already matches — an earlier attempt of this very
  share pack — is *adopted*: an existing share holding a subset of the declared objects and grants is
  completed, so a retry after a crash converges.
* UPDATE makes every recipient and share the pack names match it: objects and grants no longer listed are
  removed, IP lists and comments updated; whatever the pack does not name is untouched; a named recipient
  or share that does not exist is created. An empty IP list or a missing comment means "leave as is"
  (clearing an IP list opens the recipient to the internet, so it is never implied by an omission).
* An *exact* UPDATE (``make_plan(..., exact=True)``, what a rollback restores with) makes the named
  recipients and shares equal to the pack: IP lists become exactly the declared set, cleared when it
  declares none, and comments are restored or cleared. The plan spells a clearing out (``new`` holds
  ``allowed_ips: []``), so whoever reads the plan sees the recipient opened to any address.
* DELETE removes the named shares and recipients, revoking their grants first; missing ones are no-ops.
"""

from __future__ import annotations

from shared.provisioning.pipeline_diff import plan_pipeline_deletes, plan_pipelines
from shared.provisioning.plan import Change, Draft, Plan, Section, sections_in_order
from shared.provisioning.sharing_diff import plan_delete, plan_recipients, plan_share
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file.model import SharePackSpec, Strategy


def make_plan(spec: SharePackSpec, actual: WorkspaceState, *, exact: bool = False) -> Plan:
    """Return the plan that makes ``actual`` match ``share_pack`` under the pack's strategy.

    ``exact`` (UPDATE only) restores the declared definitions as they are: an empty IP list or a missing
    comment clears the workspace's instead of leaving it as is.
    """
    draft = Draft()
    strategy = spec.metadata.strategy
    if strategy is Strategy.DELETE:
        plan_delete(spec, actual, draft)
        plan_pipeline_deletes(spec, actual, draft)
    else:
        plan_recipients(spec.recipients, actual, strategy, draft, exact=exact)
        for share in spec.shares:
            plan_share(share, actual, strategy, draft, declared=spec.recipients, exact=exact)
        plan_pipelines(spec, actual, strategy, draft, exact=exact)
    return draft.plan(strategy)


def make_rollback_plan(restore: SharePackSpec, remove: SharePackSpec, actual: WorkspaceState) -> Plan:
    """Return the plan that takes a workspace back to a configuration: ``restore`` (an UPDATE to that
    configuration: what it had is re-created or restored exactly, IP lists and comments included) plus
    ``remove`` (a DELETE of what later configurations added).

    Both run in forward step order: deleting a recipient or share takes its grants with it, so the
    revokes that follow find them gone, which `apply` counts as done.
    """
    if restore.metadata.strategy is not Strategy.UPDATE or remove.metadata.strategy is not Strategy.DELETE:
        raise ValueError("a rollback restores with an UPDATE and removes with a DELETE")
    plans = (make_plan(restore, actual, exact=True), make_plan(remove, actual))
    seen: set[tuple[str, str, str, str | None]] = set()
    by_section: dict[Section, list[Change]] = {section: [] for section in Section}
    for plan in plans:
        for change in plan.changes:
            identity = (change.entity, change.action, change.name, change.share)
            if identity not in seen:
                seen.add(identity)
                by_section[change.section].append(change)
    return Plan(
        strategy=Strategy.UPDATE,
        changes=tuple(change for section in sections_in_order(Strategy.UPDATE) for change in by_section[section]),
        adopted=tuple(c for plan in plans for c in plan.adopted),
        conflicts=tuple(c for plan in plans for c in plan.conflicts),
        pending_activations=tuple(name for plan in plans for name in plan.pending_activations),
    )

