"""The plan: set-based diffs per strategy, adoption, conflicts, batching, serialisation."""

from __future__ import annotations

import json

import pytest

from shared.provisioning.apply import batch_object_changes
from shared.provisioning.diff import make_plan
from shared.provisioning.plan import Action, Change, Entity, Plan, Section
from shared.provisioning.workspace_state import (
    DATABRICKS,
    TOKEN,
    RecipientState,
    SharedObjectState,
    ShareState,
    WorkspaceState,
)
from shared.share_pack_file.model import Strategy
from tests.support.builders import METASTORE_A, METASTORE_B, d2d, d2o, pack, share, table

EMPTY = WorkspaceState()


def token_recipient(name: str, *, ips: tuple[str, ...] = (), comment: str | None = None, activated=True):
    return RecipientState(
        name=name,
        authentication_type=TOKEN,
        allowed_ips=frozenset(ips),
        comment=comment,
        activated=activated,
        expiration_time=1_900_000_000_000,
    )


def shared(name: str, *, alias: str | None = None, history: bool = False) -> SharedObjectState:
    """An object as the server reports it: alias defaulted, history explicit."""
    obj = SharedObjectState(name=name, type="TABLE", shared_as=alias, history=history)
    return SharedObjectState(name=name, type="TABLE", shared_as=obj.alias, history=history)


def actions(plan: Plan, entity: Entity) -> list[tuple[str, str, str | None]]:
    return [(str(c.action), c.name, c.share) for c in plan.changes if c.entity is entity]


# -- NEW -------------------------------------------------------------------------------------------------


def test_new_pack_on_an_empty_workspace_creates_everything_in_step_order() -> None:
    share_pack = pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["203.0.113.0/24"], expiry_days=30), d2d("partner")],
        shares=[share("sales", ["c.s.orders", "c.s.customers"], recipients=["acme", "partner"], comment="Sales")],
    )

    plan = make_plan(share_pack, EMPTY)

    assert plan.can_apply and not plan.is_empty
    assert plan.sections == tuple(Section)
    assert [c.section for c in plan.changes] == ["recipients"] * 2 + ["shares"] + ["data_objects"] * 2 + ["grants"] * 2
    acme, partner = plan.changes_for("recipients")
    assert acme.new == {
        "type": "D2O",
        "authentication_type": TOKEN,
        "data_recipient_global_metastore_id": None,
        "allowed_ips": ["203.0.113.0/24"],
        "comment": None,
        "token_expiry_days": 30,
    }
    assert partner.new["authentication_type"] == DATABRICKS
    assert partner.new["data_recipient_global_metastore_id"] == METASTORE_A
    assert actions(plan, Entity.SHARE) == [("create", "sales", None)]
    assert actions(plan, Entity.DATA_OBJECT) == [("add", "c.s.orders", "sales"), ("add", "c.s.customers", "sales")]
    assert actions(plan, Entity.GRANT) == [("grant", "acme", "sales"), ("grant", "partner", "sales")]
    assert plan.summary() == {
        "adopted": 0,
        "conflicts": 0,
        "data_object_add": 2,
        "grant_grant": 2,
        "recipient_create": 2,
        "share_create": 1,
    }


def test_new_pack_matching_the_workspace_exactly_is_adopted_and_empty() -> None:
    share_pack = pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["10.0.0.1", "10.0.0.2"], comment="ACME")],
        shares=[share("sales", ["c.s.orders", "c.s.customers"], recipients=["acme"])],
    )
    actual = WorkspaceState.of(
        recipients=[token_recipient("acme", ips=("10.0.0.2", "10.0.0.1"), comment="ACME")],
        shares=[ShareState("sales", objects=frozenset({shared("c.s.customers"), shared("c.s.orders")}))],
        grants={"sales": ["acme"]},
    )

    plan = make_plan(share_pack, actual)

    assert plan.is_empty and plan.can_apply
    assert {(str(c.entity), c.name) for c in plan.adopted} == {
        ("recipient", "acme"),
        ("share", "sales"),
        ("data_object", "c.s.orders"),
        ("data_object", "c.s.customers"),
    }


def test_new_pack_completes_a_share_an_earlier_attempt_left_half_done() -> None:
    share_pack = pack(
        Strategy.NEW,
        recipients=[d2o("acme"), d2o("globex")],
        shares=[share("sales", ["c.s.a", "c.s.b", "c.s.c"], recipients=["acme", "globex"])],
    )
    actual = WorkspaceState.of(
        recipients=[token_recipient("acme")],
        shares=[ShareState("sales", objects=frozenset({shared("c.s.a")}))],
        grants={"sales": ["acme"]},
    )

    plan = make_plan(share_pack, actual)

    assert plan.can_apply
    assert actions(plan, Entity.RECIPIENT) == [("create", "globex", None)]
    assert actions(plan, Entity.SHARE) == []
    assert actions(plan, Entity.DATA_OBJECT) == [("add", "c.s.b", "sales"), ("add", "c.s.c", "sales")]
    assert actions(plan, Entity.GRANT) == [("grant", "globex", "sales")]


def test_new_pack_never_switches_to_update_when_a_name_exists_with_another_definition() -> None:
    share_pack = pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["10.0.0.1"])],
        shares=[share("sales", ["c.s.a"], recipients=["acme"], comment="Sales")],
    )
    actual = WorkspaceState.of(
        recipients=[token_recipient("acme", ips=("10.9.9.9",))],
        shares=[ShareState("sales", comment="Sales", objects=frozenset({shared("c.s.a"), shared("c.s.z")}))],
        grants={"sales": ["acme", "other"]},
    )

    plan = make_plan(share_pack, actual)

    assert not plan.can_apply
    assert len(plan.conflicts) == 2
    assert "recipient acme already exists with allowed IPs ['10.9.9.9'] instead of ['10.0.0.1']" in plan.conflicts
    assert any("share sales already exists with data object c.s.z" in c and "other" in c for c in plan.conflicts)


def test_new_pack_conflicts_on_a_different_share_comment() -> None:
    plan = make_plan(
        pack(Strategy.NEW, shares=[share("sales", comment="New")]),
        WorkspaceState.of(shares=[ShareState("sales", comment="Old")]),
    )
    assert plan.conflicts == ("share sales already exists with comment 'Old' instead of 'New'",)


@pytest.mark.parametrize("strategy", [Strategy.NEW, Strategy.UPDATE])
def test_changing_a_recipient_between_d2o_and_d2d_is_a_conflict(strategy: Strategy) -> None:
    plan = make_plan(pack(strategy, recipients=[d2d("acme")]), WorkspaceState.of([token_recipient("acme")]))

    assert not plan.can_apply
    assert "recipient acme already exists with type D2O instead of D2D" in plan.conflicts[0]
    assert "cannot be changed in place" in plan.conflicts[0]


def test_a_d2d_recipient_on_another_metastore_is_a_conflict_in_update() -> None:
    actual = WorkspaceState.of([RecipientState("partner", DATABRICKS, METASTORE_B)])
    plan = make_plan(pack(Strategy.UPDATE, recipients=[d2d("partner", METASTORE_A)]), actual)
    assert f"metastore {METASTORE_B} instead of {METASTORE_A}" in plan.conflicts[0]


def test_a_metastore_can_have_only_one_recipient() -> None:
    actual = WorkspaceState.of([RecipientState("old_name", DATABRICKS, METASTORE_A)])
    plan = make_plan(pack(Strategy.NEW, recipients=[d2d("partner", METASTORE_A.upper())]), actual)
    assert plan.conflicts == (
        f"recipient partner: metastore {METASTORE_A} already has a recipient under another name "
        "(a metastore can have only one recipient)",
    )


def test_granting_a_recipient_that_is_neither_declared_nor_existing_is_a_conflict() -> None:
    share_pack = pack(Strategy.UPDATE, shares=[share("sales", recipients=["ghost", "existing"])])
    plan = make_plan(share_pack, WorkspaceState.of([token_recipient("existing")]))
    assert len(plan.conflicts) == 1 and "recipient ghost" in plan.conflicts[0]


def test_two_objects_under_one_alias_is_a_conflict() -> None:
    share_pack = pack(Strategy.NEW, shares=[share("sales", ["c1.s.t", table("c2.x.y", shared_as="s.t")])])
    plan = make_plan(share_pack, EMPTY)
    assert plan.conflicts == ("share sales: c1.s.t and c2.x.y would both be shared as s.t",)


# -- ordering, server-filled fields, keys ------------------------------------------------------------------


def test_order_and_server_filled_fields_never_cause_a_change() -> None:
    share_pack = pack(
        Strategy.UPDATE,
        recipients=[d2o("acme", ips=["10.0.0.2", "10.0.0.1"]), d2d("partner", METASTORE_A.upper())],
        shares=[share("sales", ["c.s.b", "c.s.a"], recipients=["partner", "acme"], comment="Sales")],
    )
    actual = WorkspaceState.of(
        recipients=[
            token_recipient("acme", ips=("10.0.0.1", "10.0.0.2"), comment="set in the UI", activated=False),
            RecipientState("partner", DATABRICKS, METASTORE_A, activated=True),
        ],
        # history reported DISABLED, alias defaulted by the server, objects listed in another order
        shares=[ShareState("sales", comment="Sales", objects=frozenset({shared("c.s.a"), shared("c.s.b")}))],
        grants={"sales": ["acme", "partner"]},
    )

    plan = make_plan(share_pack, actual)

    assert plan.is_empty and plan.can_apply


def test_shared_as_is_part_of_an_objects_identity() -> None:
    share_pack = pack(
        Strategy.UPDATE,
        shares=[
            share(
                "sales",
                [
                    table("c.s.kept", shared_as="s.kept"),
                    table("c.s.renamed", shared_as="s.new_alias"),
                    "c.s.alias_not_declared",
                    table("c.s.history", history=True),
                ],
            )
        ],
    )
    actual = WorkspaceState.of(
        shares=[
            ShareState(
                "sales",
                objects=frozenset(
                    {
                        shared("c.s.kept"),
                        shared("c.s.renamed"),
                        shared("c.s.alias_not_declared", alias="x.custom"),
                        shared("c.s.history", history=False),
                    }
                ),
            )
        ]
    )

    plan = make_plan(share_pack, actual)

    assert actions(plan, Entity.DATA_OBJECT) == [
        ("remove", "c.s.history", "sales"),
        ("remove", "c.s.renamed", "sales"),
        ("add", "c.s.renamed", "sales"),
        ("add", "c.s.history", "sales"),
    ]
    removed = plan.changes_for("data_objects")[1]
    assert removed.data_object() == SharedObjectState("c.s.renamed", "TABLE", "s.renamed", False)


def test_one_table_under_two_aliases_is_two_objects() -> None:
    share_pack = pack(
        Strategy.UPDATE,
        shares=[share("sales", [table("c.s.t", shared_as="a.t"), table("c.s.t", shared_as="b.t")])],
    )
    actual = WorkspaceState.of(shares=[ShareState("sales", objects=frozenset({shared("c.s.t", alias="a.t")}))])

    plan = make_plan(share_pack, actual)

    assert [(c.action, c.new.get("shared_as")) for c in plan.changes] == [(Action.ADD, "b.t")]


# -- UPDATE ----------------------------------------------------------------------------------------------


def test_update_makes_named_objects_match_and_leaves_the_rest_alone() -> None:
    share_pack = pack(
        Strategy.UPDATE,
        recipients=[d2o("acme", ips=["10.0.0.9"], comment="new comment"), d2o("initech")],
        shares=[share("sales", ["c.s.a", "c.s.new"], recipients=["acme", "initech"], comment="Sales v2")],
    )
    actual = WorkspaceState.of(
        recipients=[token_recipient("acme", ips=("10.0.0.1",), comment="old"), token_recipient("bystander")],
        shares=[ShareState("sales", comment="Sales", objects=frozenset({shared("c.s.a"), shared("c.s.gone")}))],
        grants={"sales": ["acme", "bystander"]},
    )

    plan = make_plan(share_pack, actual)

    assert plan.can_apply
    recipients = plan.changes_for("recipients")
    assert [(c.action, c.name) for c in recipients] == [(Action.UPDATE, "acme"), (Action.CREATE, "initech")]
    assert recipients[0].old == {"comment": "old", "allowed_ips": ["10.0.0.1"]}
    assert recipients[0].new == {"comment": "new comment", "allowed_ips": ["10.0.0.9"]}
    assert plan.changes_for("shares")[0].new == {"comment": "Sales v2"}
    assert actions(plan, Entity.DATA_OBJECT) == [("remove", "c.s.gone", "sales"), ("add", "c.s.new", "sales")]
    assert actions(plan, Entity.GRANT) == [("revoke", "bystander", "sales"), ("grant", "initech", "sales")]
    assert all(c.name != "bystander" for c in plan.changes if c.entity is Entity.RECIPIENT)


def test_update_treats_an_unset_comment_and_an_empty_ip_list_as_dont_care() -> None:
    actual = WorkspaceState.of([token_recipient("acme", ips=("10.0.0.1",), comment="keep me")])
    plan = make_plan(pack(Strategy.UPDATE, recipients=[d2o("acme")]), actual)
    assert plan.is_empty


def test_update_creates_a_named_share_that_does_not_exist() -> None:
    plan = make_plan(pack(Strategy.UPDATE, shares=[share("fresh", ["c.s.a"])]), EMPTY)
    assert [(c.entity, c.action) for c in plan.changes] == [
        (Entity.SHARE, Action.CREATE),
        (Entity.DATA_OBJECT, Action.ADD),
    ]


# -- DELETE ----------------------------------------------------------------------------------------------


def test_delete_revokes_grants_then_deletes_shares_then_recipients() -> None:
    share_pack = pack(
        Strategy.DELETE,
        recipients=[d2o("acme"), d2o("missing")],
        shares=[share("sales"), share("missing_share")],
    )
    actual = WorkspaceState.of(
        recipients=[token_recipient("acme"), token_recipient("globex")],
        shares=[ShareState("sales", comment="Sales", objects=frozenset({shared("c.s.a")}))],
        grants={"sales": ["acme", "globex"], "other_share": ["acme"]},
    )

    plan = make_plan(share_pack, actual)

    assert plan.sections == tuple(reversed(Section))
    assert [(str(c.entity), str(c.action), c.name, c.share) for c in plan.changes] == [
        ("grant", "revoke", "acme", "sales"),
        ("grant", "revoke", "globex", "sales"),
        ("grant", "revoke", "acme", "other_share"),
        ("share", "delete", "sales", None),
        ("recipient", "delete", "acme", None),
    ]
    assert plan.changes_for("shares")[0].old == {"comment": "Sales", "objects": ["c.s.a"]}


def test_delete_of_nothing_that_exists_is_empty() -> None:
    plan = make_plan(pack(Strategy.DELETE, recipients=[d2o("gone")], shares=[share("gone")]), EMPTY)
    assert plan.is_empty


# -- batching --------------------------------------------------------------------------------------------


def _object_change(action: Action, name: str, alias: str | None = None) -> Change:
    values = {"type": "TABLE", "shared_as": alias, "history": None}
    return Change(
        Entity.DATA_OBJECT,
        action,
        name,
        share="s",
        old=values if action is Action.REMOVE else {},
        new=values if action is Action.ADD else {},
    )


def test_batches_hold_at_most_100_updates() -> None:
    adds = [_object_change(Action.ADD, f"c.s.t{i}") for i in range(250)]
    assert [len(b) for b in batch_object_changes(adds)] == [100, 100, 50]


def test_batches_put_removals_first_and_combine_independent_changes() -> None:
    changes = [_object_change(Action.ADD, f"c.s.new{i}") for i in range(10)]
    changes += [_object_change(Action.REMOVE, f"c.s.old{i}") for i in range(10)]

    batches = batch_object_changes(changes)

    assert len(batches) == 1
    assert [c.action for c in batches[0]] == [Action.REMOVE] * 10 + [Action.ADD] * 10


def test_an_addition_reusing_a_removed_name_or_alias_waits_for_the_next_call() -> None:
    changes = [
        _object_change(Action.REMOVE, "c.s.t", "s.t"),
        _object_change(Action.REMOVE, "c.s.u"),
        _object_change(Action.ADD, "c.s.other"),
        _object_change(Action.ADD, "c.s.t", "s.renamed"),  # same table, new alias
        _object_change(Action.ADD, "c2.s.u"),  # another table, same default alias s.u
    ]

    batches = batch_object_changes(changes)

    assert [[(str(c.action), c.name) for c in b] for b in batches] == [
        [("remove", "c.s.t"), ("remove", "c.s.u"), ("add", "c.s.other")],
        [("add", "c.s.t"), ("add", "c2.s.u")],
    ]


# -- serialisation ---------------------------------------------------------------------------------------


def test_plan_round_trips_through_json_and_holds_no_secret() -> None:
    share_pack = pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["10.0.0.1"], expiry_days=90)],
        shares=[share("sales", ["c.s.a"], recipients=["acme"])],
    )
    actual = WorkspaceState.of(shares=[ShareState("sales", objects=frozenset({shared("c.s.a")}))])
    plan = make_plan(share_pack, actual)

    data = json.loads(json.dumps(plan.to_dict()))

    assert Plan.from_dict(data) == plan
    assert data["summary"]["recipient_create"] == 1 and data["summary"]["adopted"] == 2
    assert list(data["steps"]) == [str(s) for s in Section]
    text = json.dumps(data)
    assert "retrieve_config" not in text and 'token"' not in text and "email" not in text


def test_delete_plan_round_trips_in_delete_order() -> None:
    actual = WorkspaceState.of([token_recipient("acme")], grants={"s": ["acme"]})
    plan = make_plan(pack(Strategy.DELETE, recipients=[d2o("acme")]), actual)

    restored = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))

    assert restored == plan
    assert list(plan.to_dict()["steps"]) == [str(s) for s in reversed(Section)]


def test_changes_for_rejects_an_unknown_section() -> None:
    with pytest.raises(ValueError, match="unknown plan section"):
        Plan(Strategy.NEW).changes_for("dashboards")


def test_changes_describe_themselves_in_one_line() -> None:
    plan = make_plan(
        pack(Strategy.NEW, recipients=[d2o("acme")], shares=[share("sales", ["c.s.a"], recipients=["acme"])]),
        EMPTY,
    )
    assert [c.describe() for c in plan.changes] == [
        "create recipient acme",
        "create share sales",
        "add data_object c.s.a in share sales",
        "grant SELECT on share sales for recipient acme",
    ]
