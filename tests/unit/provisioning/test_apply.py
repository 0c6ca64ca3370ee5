"""Applying plans: step order, idempotence, convergence after partial runs, failures, concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from shared.provisioning.apply import StepResult
from shared.provisioning.diff import make_plan
from shared.provisioning.errors import (
    ObjectDoesNotExist,
    PermanentProvisioningError,
    PlanConflict,
    TransientProvisioningError,
)
from shared.provisioning.plan import Action, Entity
from shared.provisioning.steps import apply_plan, apply_step
from shared.provisioning.workspace_state import RecipientState
from shared.share_pack_file.model import Strategy
from tests.support.builders import d2d, d2o, pack, share
from tests.support.fakes import FakeWorkspaceGateway


def provision(share_pack, gateway, **kwargs) -> list[StepResult]:
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    return apply_plan(plan, gateway, **kwargs)


def full_pack(strategy: Strategy = Strategy.NEW, objects: int = 3):
    return pack(
        strategy,
        recipients=[d2o("acme", ips=["10.0.0.1"], expiry_days=30), d2d("partner")],
        shares=[
            share("sales", [f"c.s.t{i}" for i in range(objects)], recipients=["acme", "partner"]),
            share("finance", ["c.f.ledger"], recipients=["acme"]),
        ],
    )


def test_applying_a_new_plan_creates_everything_and_returns_links_apart() -> None:
    gateway = FakeWorkspaceGateway()

    results = provision(full_pack(), gateway)

    assert [r.step for r in results] == ["recipients", "shares", "data_objects", "grants", "pipelines", "schedules"]
    assert set(gateway.recipients) == {"acme", "partner"}
    assert gateway.recipients["acme"].expiration_time > time.time() * 1000 + 29 * 86_400_000
    assert gateway.recipients["acme"].allowed_ips == {"10.0.0.1"}
    assert set(gateway.shares["sales"].objects) == {"s.t0", "s.t1", "s.t2"}
    assert gateway.shares["sales"].grantees == {"acme", "partner"}
    recipients_step = results[0]
    assert recipients_step.activation_links == {"acme": gateway.activation_links["acme"]}
    assert "secret-acme" not in repr(recipients_step)
    assert "secret-acme" not in str(recipients_step.to_dict())
    assert recipients_step.to_dict()["activation_links_for"] == ["acme"]
    assert sum(len(r.changes) for r in results) == 2 + 2 + 4 + 3


def test_a_second_run_of_the_same_pack_changes_nothing() -> None:
    gateway = FakeWorkspaceGateway()
    provision(full_pack(), gateway)
    gateway.calls.clear()

    plan = make_plan(full_pack(), gateway.read_state(full_pack()))

    assert plan.is_empty and plan.can_apply
    assert plan.pending_activations == ("acme",)  # never downloaded: the link is fetched again
    assert all(r.changes == () for r in apply_plan(plan, gateway))
    assert gateway.calls == [("read_state", ""), ("activation_link", "acme")]


def test_re_applying_the_same_plan_after_it_ran_converges_without_errors() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = full_pack(objects=150)
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    apply_plan(plan, gateway)
    before = {name: dict(s.objects) for name, s in gateway.shares.items()}

    results = apply_plan(plan, gateway)  # e.g. a duplicate message carrying a stale plan

    assert {name: dict(s.objects) for name, s in gateway.shares.items()} == before
    assert len(results[2].changes) == 151  # every object change counts as done


def test_a_crash_part_way_then_re_plan_and_apply_converges() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = full_pack(objects=120)
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    apply_step("recipients", plan, gateway)
    apply_step("shares", plan, gateway)
    gateway.update_share_objects("sales", add=[c.data_object() for c in plan.changes_for("data_objects")[:60]])
    # ...the worker died here

    replan = make_plan(share_pack, gateway.read_state(share_pack))
    assert replan.can_apply, replan.conflicts
    assert len(replan.changes_for("data_objects")) == 61
    apply_plan(replan, gateway)

    assert make_plan(share_pack, gateway.read_state(share_pack)).is_empty
    assert len(gateway.shares["sales"].objects) == 120


def test_a_recipient_created_before_a_crash_gets_its_link_on_the_retry() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = full_pack()
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    apply_step("recipients", plan, gateway)  # link returned, then the worker died before storing it

    replan = make_plan(share_pack, gateway.read_state(share_pack))
    result = apply_step("recipients", replan, gateway)

    assert replan.pending_activations == ("acme",)
    assert result.changes == ()
    assert result.activation_links == {"acme": gateway.activation_links["acme"]}


def test_creating_a_recipient_that_appeared_meanwhile_adopts_it_if_equal() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = pack(Strategy.NEW, recipients=[d2o("acme", ips=["10.0.0.1"])])
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    gateway.create_recipient(plan.changes[0].recipient())  # a concurrent run got there first

    result = apply_step("recipients", plan, gateway)

    assert [c.name for c in result.changes] == ["acme"]
    assert "acme" in result.activation_links


def test_creating_a_recipient_that_appeared_meanwhile_with_another_definition_fails() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = pack(Strategy.NEW, recipients=[d2o("acme", ips=["10.0.0.1"])])
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    gateway.recipients["acme"] = RecipientState("acme", "TOKEN", allowed_ips=frozenset({"10.9.9.9"}))

    with pytest.raises(PermanentProvisioningError) as caught:
        apply_step("recipients", plan, gateway)

    assert caught.value.error_code == "RECIPIENT_ALREADY_EXISTS"


def test_a_plan_with_conflicts_is_refused() -> None:
    gateway = FakeWorkspaceGateway()
    gateway.recipients["acme"] = RecipientState("acme", "DATABRICKS", "azure:x:y")
    plan = make_plan(pack(Strategy.NEW, recipients=[d2o("acme")]), gateway.read_state(full_pack()))

    with pytest.raises(PlanConflict) as caught:
        apply_step("recipients", plan, gateway)

    assert caught.value.error_code == "PLAN_CONFLICT"
    assert caught.value.conflicts == list(plan.conflicts)
    assert gateway.calls_to("create_recipient") == []


def test_share_objects_go_in_calls_of_at_most_100() -> None:
    gateway = FakeWorkspaceGateway()
    provision(pack(Strategy.NEW, shares=[share("big", [f"c.s.t{i}" for i in range(250)])]), gateway)
    assert gateway.calls_to("update_share_objects") == ["big"] * 3
    assert len(gateway.shares["big"].objects) == 250


def test_update_removes_before_it_adds_and_revokes_what_is_no_longer_listed() -> None:
    gateway = FakeWorkspaceGateway()
    provision(full_pack(), gateway)
    updated = pack(
        Strategy.UPDATE,
        recipients=[d2o("acme", ips=["10.0.0.2"])],
        shares=[share("sales", ["c.s.t0", "c.s.new"], recipients=["acme"])],
    )

    results = provision(updated, gateway)

    assert set(gateway.shares["sales"].objects) == {"s.t0", "s.new"}
    assert gateway.shares["sales"].grantees == {"acme"}
    assert gateway.recipients["acme"].allowed_ips == {"10.0.0.2"}
    assert gateway.shares["finance"].grantees == {"acme"}  # not named: untouched
    object_changes = [(str(c.action), c.name) for c in results[2].changes]
    assert object_changes == [("remove", "c.s.t1"), ("remove", "c.s.t2"), ("add", "c.s.new")]
    assert [(str(c.action), c.name) for c in results[3].changes] == [("revoke", "partner")]


def test_delete_runs_revoke_then_share_then_recipient_and_tolerates_missing_objects() -> None:
    gateway = FakeWorkspaceGateway()
    provision(full_pack(), gateway)
    doomed = pack(Strategy.DELETE, recipients=[d2o("acme")], shares=[share("sales")])
    plan = make_plan(doomed, gateway.read_state(doomed))
    gateway.calls.clear()

    results = apply_plan(plan, gateway)

    assert [r.step for r in results] == ["schedules", "pipelines", "grants", "data_objects", "shares", "recipients"]
    assert [m for m, _ in gateway.calls] == [
        "update_share_grants",
        "update_share_grants",
        "delete_share",
        "delete_recipient",
    ]
    assert set(gateway.shares) == {"finance"} and set(gateway.recipients) == {"partner"}
    assert gateway.shares["finance"].grantees == set()
    apply_plan(plan, gateway)  # again: everything is gone already, which is fine


def test_a_missing_table_fails_permanently_and_reports_what_was_done() -> None:
    gateway = FakeWorkspaceGateway(tables={"c.s.ok"})
    share_pack = pack(
        Strategy.NEW,
        shares=[share("a", ["c.s.ok"]), share("b", ["c.s.missing"])],
    )
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    apply_step("shares", plan, gateway)

    with pytest.raises(ObjectDoesNotExist) as caught:
        apply_step("data_objects", plan, gateway, concurrency=1)

    assert caught.value.error_code == "TABLE_DOES_NOT_EXIST"
    assert caught.value.databricks_message == "Table 'c.s.missing' does not exist"
    done = caught.value.partial_result
    assert [c.name for c in done.changes] == ["c.s.ok"]


def test_links_of_recipients_created_before_a_failure_are_not_lost() -> None:
    gateway = FakeWorkspaceGateway()
    share_pack = pack(Strategy.NEW, recipients=[d2o("acme"), d2o("globex")])
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    gateway.fail_next[("create_recipient", "globex")] = TransientProvisioningError("throttled", error_code="X")

    with pytest.raises(TransientProvisioningError) as caught:
        apply_step("recipients", plan, gateway)

    assert set(caught.value.partial_result.activation_links) == {"acme"}


class BarrierGateway(FakeWorkspaceGateway):
    """Holds recipient creates until ``parties`` of them are in flight."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=5)

    def create_recipient(self, recipient):
        self.barrier.wait()
        return super().create_recipient(recipient)


def test_a_permanent_failure_is_reported_before_a_transient_one() -> None:
    gateway = BarrierGateway(2)
    share_pack = pack(Strategy.NEW, recipients=[d2o("acme"), d2o("globex")])
    plan = make_plan(share_pack, gateway.read_state(share_pack))
    gateway.fail_next[("create_recipient", "acme")] = TransientProvisioningError("throttled")
    gateway.fail_next[("create_recipient", "globex")] = PermanentProvisioningError("denied")

    with pytest.raises(PermanentProvisioningError, match="denied"):
        apply_step("recipients", plan, gateway, concurrency=2)


class SlowGateway(FakeWorkspaceGateway):
    """Counts how many share-object calls overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self._count = threading.Lock()

    def update_share_objects(self, name, *, remove=(), add=(), update=()):
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.02)
        try:
            super().update_share_objects(name, remove=remove, add=add, update=update)
        finally:
            with self._count:
                self.in_flight -= 1


def test_independent_shares_are_provisioned_concurrently_within_the_bound() -> None:
    gateway = SlowGateway()
    share_pack = pack(Strategy.NEW, shares=[share(f"s{i}", [f"c.s.t{i}"]) for i in range(12)])

    provision(share_pack, gateway, concurrency=4)

    assert gateway.most_in_flight == 4


def test_result_changes_are_audit_rows() -> None:
    gateway = FakeWorkspaceGateway()
    results = provision(full_pack(objects=1), gateway)
    created = results[0].changes[0]
    assert (created.entity, created.action, created.name) == (Entity.RECIPIENT, Action.CREATE, "acme")
    assert created.to_dict()["new"]["allowed_ips"] == ["10.0.0.1"]
