"""The ownership rule as pure logic: which existing objects a pack's project may touch."""

from __future__ import annotations

import uuid

from shared.access.ownership import Owners, ownership_conflicts
from shared.provisioning.workspace_state import RecipientState, ShareState, WorkspaceState
from shared.share_pack_file.model import Strategy
from tests.unit.provisioning.builders import d2o, pack, share

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
