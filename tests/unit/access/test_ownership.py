"""The ownership rule as pure logic: which existing objects a pack's project may touch."""

from __future__ import annotations

import uuid

from shared.access.ownership import Owners, owned_removals, owned_state, ownership_conflicts
from shared.provisioning.pipeline_state import PipelineState
from shared.provisioning.workspace_state import RecipientState, ShareState, WorkspaceState
from shared.share_pack_file.model import Strategy
from tests.support.builders import d2o, pack, pipeline, share

MINE, THEIRS = uuid.uuid4(), uuid.uuid4()
SPEC = pack(Strategy.UPDATE, recipients=[d2o("acme")], shares=[share("sales", recipients=["acme"])])


def state(*, recipient: bool = True, share_exists: bool = True) -> WorkspaceState:
    return WorkspaceState.of(
        recipients=[RecipientState(name="acme", authentication_type="TOKEN")] if recipient else [],
        shares=[ShareState(name="sales")] if share_exists else [],
    )


def test_own_objects_and_objects_that_do_not_exist_yet_are_fine():
    assert ownership_conflicts(SPEC, state(), Owners({"acme": MINE}, {"sales": MINE}), MINE) == []
    assert ownership_conflicts(SPEC, state(recipient=False, share_exists=False), Owners({}, {}), MINE) == []


def test_foreign_and_out_of_band_objects_are_named_and_nothing_else():
    conflicts = ownership_conflicts(SPEC, state(), Owners({"acme": THEIRS}, {"sales": None}), MINE)
    assert conflicts == [
        "recipient acme exists and is owned by another project",
        "share sales exists and is created outside this service; an administrator can import it into a project",
    ]


def test_an_object_the_service_never_recorded_is_out_of_band():
    assert ownership_conflicts(SPEC, state(recipient=False), Owners({}, {}), MINE) == [
        "share sales exists and is created outside this service; an administrator can import it into a project"
    ]


def test_a_name_recorded_under_another_project_stays_taken_while_missing_from_the_workspace():
    missing = state(recipient=False, share_exists=False)
    conflicts = ownership_conflicts(SPEC, missing, Owners({"acme": THEIRS}, {"sales": THEIRS}), MINE)
    assert conflicts == [
        "recipient acme is a name taken by another project",
        "share sales is a name taken by another project",
    ]
    # recorded without a project (before projects existed) and gone: free to create
    assert ownership_conflicts(SPEC, missing, Owners({"acme": None}, {"sales": None}), MINE) == []


def test_pipelines_are_owned_like_shares():
    spec = pack(Strategy.DELETE, pipelines=[pipeline("orders_nightly", "sales.reporting.orders")])
    nightly = PipelineState("orders_nightly", "raw.a.b", "sales.reporting.orders", "1", share="sales")
    have = WorkspaceState(pipelines={"orders_nightly": nightly})
    assert ownership_conflicts(spec, have, Owners({}, {}, {"orders_nightly": MINE}), MINE) == []
    assert ownership_conflicts(spec, have, Owners({}, {}, {"orders_nightly": THEIRS}), MINE) == [
        "pipeline orders_nightly exists and is owned by another project"
    ]
    # a pipeline feeding the pack's share but owned elsewhere is not for the plan to see
    assert owned_state(have, Owners({}, {}, {"orders_nightly": THEIRS}), MINE).pipelines == {}
    assert owned_state(have, Owners({}, {}, {"orders_nightly": MINE}), MINE) is have


def test_a_rollback_removes_only_what_its_project_owns():
    removals = pack(Strategy.DELETE, recipients=[d2o("acme"), d2o("mine")], shares=[share("sales"), share("gone")])
    have = WorkspaceState.of(recipients=[RecipientState(name="acme", authentication_type="TOKEN"),
                                         RecipientState(name="mine", authentication_type="TOKEN")],
                             shares=[ShareState(name="sales")])
    kept, left = owned_removals(removals, have, Owners({"acme": THEIRS, "mine": MINE}, {"sales": THEIRS}), MINE)
    assert [r.name for r in kept.recipients] == ["mine"]
    assert [s.name for s in kept.shares] == ["gone"]  # missing and unrecorded: a no-op DELETE either way
    assert left == [
        "recipient acme is a name taken by another project; the rollback leaves it as it is",
        "share sales is a name taken by another project; the rollback leaves it as it is",
    ]
