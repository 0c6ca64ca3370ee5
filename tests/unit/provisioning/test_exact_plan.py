"""The exact UPDATE a rollback restores with: IP lists and comments become what the pack declares, even
when it declares none, while an ordinary UPDATE still leaves what the pack omits as it is."""

from __future__ import annotations

import pytest

from shared.provisioning.diff import make_plan, make_rollback_plan
from shared.provisioning.plan import Action, Change, Entity, Plan
from shared.provisioning.steps import apply_plan
from shared.provisioning.workspace_state import DATABRICKS, RecipientState, ShareState, WorkspaceState
from shared.share_pack_file.model import Strategy
from shared.use_cases.lifecycle import rollback_specs, widens_access
from tests.support.builders import METASTORE_A, d2d, d2o, pack, share
from tests.support.fakes import FakeWorkspaceGateway

from .test_plan import token_recipient


def recipient_update(plan: Plan) -> Change:
    (change,) = [c for c in plan.changes if c.entity is Entity.RECIPIENT]
    assert change.action is Action.UPDATE
    return change


def test_exact_clears_an_ip_list_the_pack_does_not_declare_and_says_it_widens_access() -> None:
    actual = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1", "10.0.0.2"))])

    change = recipient_update(make_plan(pack(Strategy.UPDATE, recipients=[d2o("acme")]), actual, exact=True))

    assert change.old == {"allowed_ips": ["10.0.0.1", "10.0.0.2"]} and change.new == {"allowed_ips": []}
    assert change.widens_ip_access and change.to_dict()["widens_access"] is True
    assert "clears its IP access list" in change.describe()


def test_exact_narrows_an_ip_list_without_widening_access() -> None:
    actual = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1", "10.0.0.2"))])

    change = recipient_update(
        make_plan(pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"])]), actual, exact=True)
    )

    assert change.new == {"allowed_ips": ["10.0.0.1"]}
    assert not change.widens_ip_access and "widens_access" not in change.to_dict()


def test_an_ip_list_that_gains_an_address_widens_access_and_one_set_on_an_open_recipient_does_not() -> None:
    restricted = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1",))])
    wider = recipient_update(
        make_plan(pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1", "10.0.0.9"])]), restricted,
                  exact=True)
    )
    assert wider.widens_ip_access and "allows more IPs" in wider.describe()

    open_to_all = WorkspaceState.of([token_recipient("acme")])
    first_list = recipient_update(
        make_plan(pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"])]), open_to_all, exact=True)
    )
    assert first_list.new == {"allowed_ips": ["10.0.0.1"]} and not first_list.widens_ip_access


def test_exact_clears_recipient_and_share_comments() -> None:
    actual = WorkspaceState.of(
        [token_recipient("acme", comment="added later")], [ShareState("sales", comment="Sales v2")]
    )
    spec = pack(Strategy.UPDATE, recipients=[d2o("acme")], shares=[share("sales")])

    plan = make_plan(spec, actual, exact=True)

    assert recipient_update(plan).old == {"comment": "added later"}
    assert recipient_update(plan).new == {"comment": None}
    (share_change,) = [c for c in plan.changes if c.entity is Entity.SHARE]
    assert (share_change.action, share_change.old, share_change.new) == (
        Action.UPDATE, {"comment": "Sales v2"}, {"comment": None},
    )


@pytest.mark.parametrize("exact", [False, True])
def test_a_recipient_already_as_declared_needs_nothing(exact: bool) -> None:
    actual = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1",), comment="c")], [ShareState("s", "d")])
    spec = pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"], comment="c")],
                shares=[share("s", comment="d")])
    assert make_plan(spec, actual, exact=exact).is_empty


def test_an_ordinary_update_still_leaves_an_omitted_ip_list_and_comment_alone() -> None:
    actual = WorkspaceState.of(
        [token_recipient("acme", ips=("10.0.0.1",), comment="keep me")], [ShareState("sales", comment="keep")]
    )
    spec = pack(Strategy.UPDATE, recipients=[d2o("acme")], shares=[share("sales")])
    assert make_plan(spec, actual).is_empty
    assert not make_plan(spec, actual, exact=True).is_empty


def test_exact_never_gives_a_d2d_recipient_an_ip_list_change() -> None:
    actual = WorkspaceState.of([
        RecipientState("partner", DATABRICKS, data_recipient_global_metastore_id=METASTORE_A.lower())
    ])
    assert make_plan(pack(Strategy.UPDATE, recipients=[d2d("partner", METASTORE_A)]), actual, exact=True).is_empty


def test_a_rollback_plan_restores_exactly_what_the_target_configuration_had() -> None:
    first = pack(Strategy.NEW, recipients=[d2o("acme")], shares=[share("sales", recipients=["acme"])])
    later = pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"], comment="v2")],
                 shares=[share("sales", recipients=["acme"], comment="v3")])
    restore, remove = rollback_specs(first, [later])
    actual = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1",), comment="v2")],
                               [ShareState("sales", comment="v3")], grants={"sales": ["acme"]})

    plan = make_rollback_plan(restore, remove, actual)

    assert [(c.entity, c.action, dict(c.new)) for c in plan.changes] == [
        (Entity.RECIPIENT, Action.UPDATE, {"comment": None, "allowed_ips": []}),
        (Entity.SHARE, Action.UPDATE, {"comment": None}),
    ]
    assert Plan.from_dict(plan.to_dict()).changes == plan.changes


def test_applying_a_rollback_plan_clears_what_later_configurations_added() -> None:
    first = pack(Strategy.NEW, recipients=[d2o("acme")], shares=[share("sales", ["c.s.a"], recipients=["acme"])])
    later = pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"], comment="v2")],
                 shares=[share("sales", ["c.s.a"], recipients=["acme"], comment="v2")])
    gateway = FakeWorkspaceGateway()
    for spec in (first, later):
        apply_plan(make_plan(spec, gateway.read_state(spec)), gateway)
    assert gateway.recipients["acme"].allowed_ips == {"10.0.0.1"}

    restore, remove = rollback_specs(first, [later])
    apply_plan(make_rollback_plan(restore, remove, gateway.read_state(restore)), gateway)

    acme = gateway.recipients["acme"]
    assert acme.allowed_ips == frozenset() and not acme.comment and not gateway.shares["sales"].comment
    assert make_plan(restore, gateway.read_state(restore), exact=True).is_empty


def test_the_approval_gate_reads_an_opened_ip_list_from_the_plan_when_there_is_one() -> None:
    first = pack(Strategy.NEW, recipients=[d2o("acme")])
    later = pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["10.0.0.1"])])
    restore, remove = rollback_specs(first, [later])
    restricted = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1",))])
    already_open = WorkspaceState.of([token_recipient("acme")])

    assert widens_access(restore, later, plan=make_rollback_plan(restore, remove, restricted))
    assert not widens_access(restore, later, plan=make_rollback_plan(restore, remove, already_open))
    assert widens_access(restore, later, later=[later])  # unread workspace: the later list may be in force
    assert not widens_access(restore, later)
