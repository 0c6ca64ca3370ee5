"""Recipient properties and federation policies, and a table's partitions, change data feed and start version:
the sharing diff notices each, applies it in place where Databricks can, and replaces the object (saying so)
where it cannot."""

from __future__ import annotations

import dataclasses

from shared.provisioning.diff import make_plan
from shared.provisioning.plan import Action, Entity, Plan
from shared.provisioning.steps import apply_plan
from shared.share_pack_file.model import (
    Authentication,
    DataObjectSpec,
    FederationPolicySpec,
    PartitionValueSpec,
    Strategy,
)
from tests.support.builders import d2o, pack, share
from tests.support.fakes import FakeWorkspaceGateway

POLICY = FederationPolicySpec(name="bi", issuer="https://idp.example.com", subject_claim="azp", subject="app-1",
                              audiences=("api://sharing",))
EU = ((PartitionValueSpec("region", value="EU"),),)
BY_COUNTRY = ((PartitionValueSpec("country", recipient_property="country"),),)


def rich_pack(strategy: Strategy = Strategy.NEW, *, partitions=EU, cdf: bool | None = True, start: int | None = 2,
              properties=None, policies=(POLICY,)):
    acme = dataclasses.replace(d2o("acme"), properties=properties or {"country": "FR"})
    fabrikam = dataclasses.replace(d2o("fabrikam"), authentication=Authentication.OIDC_FEDERATION,
                                   federation_policies=policies)
    orders = DataObjectSpec(name="c.s.orders", history=True, partitions=partitions, cdf_enabled=cdf,
                            start_version=start)
    return pack(strategy, recipients=[acme, fabrikam],
                shares=[share("sales", [orders, "c.s.customers"], recipients=["acme", "fabrikam"])])


def provision(share_pack, gateway, *, exact: bool = False) -> Plan:
    plan = make_plan(share_pack, gateway.read_state(share_pack), exact=exact)
    assert plan.can_apply, plan.conflicts
    apply_plan(plan, gateway)
    return plan


def test_a_new_pack_creates_every_field_and_a_second_plan_is_empty() -> None:
    gateway = FakeWorkspaceGateway()

    plan = provision(rich_pack(), gateway)

    created = {c.name: c.new for c in plan.changes if c.entity is Entity.RECIPIENT}
    assert created["acme"]["token_expiry_days"] == 90 and created["fabrikam"]["token_expiry_days"] is None

    acme, fabrikam = gateway.recipients["acme"], gateway.recipients["fabrikam"]
    assert acme.properties == (("country", "FR"),)
    assert fabrikam.authentication_type == "OIDC_FEDERATION" and fabrikam.federation_policies == (POLICY,)
    assert not fabrikam.allowed_ips and "fabrikam" not in gateway.activation_links
    assert fabrikam.expiration_time is None
    orders = next(o for o in gateway.shares["sales"].objects.values() if o.name == "c.s.orders")
    assert (orders.partitions, orders.cdf_enabled, orders.start_version) == (EU, True, 2)
    assert make_plan(rich_pack(Strategy.UPDATE), gateway.read_state(rich_pack())).is_empty


def test_changed_fields_are_updated_in_place() -> None:
    gateway = FakeWorkspaceGateway()
    provision(rich_pack(), gateway)
    other_policy = dataclasses.replace(POLICY, subject="app-2")
    changed = rich_pack(Strategy.UPDATE, partitions=BY_COUNTRY, cdf=False, start=5,
                        properties={"country": "DE"}, policies=(other_policy,))

    plan = provision(changed, gateway)

    kinds = {(c.entity, c.action, c.name) for c in plan.changes}
    assert kinds == {(Entity.RECIPIENT, Action.UPDATE, "acme"), (Entity.RECIPIENT, Action.UPDATE, "fabrikam"),
                     (Entity.DATA_OBJECT, Action.UPDATE, "c.s.orders")}
    assert gateway.recipients["acme"].properties == (("country", "DE"),)
    assert gateway.recipients["fabrikam"].federation_policies == (other_policy,)
    assert gateway.calls_to("delete_federation_policy") == ["fabrikam"]
    orders = next(o for o in gateway.shares["sales"].objects.values() if o.name == "c.s.orders")
    assert (orders.partitions, bool(orders.cdf_enabled), orders.start_version) == (BY_COUNTRY, False, 5)
    assert make_plan(changed, gateway.read_state(changed)).is_empty


def test_an_unset_field_is_left_alone_but_an_exact_plan_clears_it_by_replacing_the_object() -> None:
    gateway = FakeWorkspaceGateway()
    provision(rich_pack(), gateway)
    bare = rich_pack(Strategy.UPDATE, partitions=(), cdf=None, start=None)

    assert make_plan(bare, gateway.read_state(bare)).is_empty

    plan = make_plan(bare, gateway.read_state(bare), exact=True)
    actions = [(c.action, c.name) for c in plan.changes if c.entity is Entity.DATA_OBJECT]
    assert actions == [(Action.REMOVE, "c.s.orders"), (Action.ADD, "c.s.orders")]
    added = next(c for c in plan.changes if c.action is Action.ADD)
    assert "Databricks cannot change its partitions (cleared), start version (cleared) in place" in added.describe()


def test_a_new_pack_meeting_other_partitions_is_a_conflict() -> None:
    gateway = FakeWorkspaceGateway()
    provision(rich_pack(), gateway)

    plan = make_plan(rich_pack(partitions=BY_COUNTRY), gateway.read_state(rich_pack()))

    assert plan.conflicts == ("share sales already shares c.s.orders with other partitions, change data feed or "
                              "start version",)


def test_token_and_oidc_federation_cannot_be_swapped_in_place() -> None:
    gateway = FakeWorkspaceGateway()
    provision(rich_pack(), gateway)
    swapped = rich_pack(Strategy.UPDATE, policies=())
    swapped = dataclasses.replace(swapped, recipients=(swapped.recipients[0], d2o("fabrikam")))

    plan = make_plan(swapped, gateway.read_state(swapped))

    assert any("authentication OIDC_FEDERATION instead of TOKEN" in c for c in plan.conflicts), plan.conflicts
