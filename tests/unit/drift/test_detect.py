"""Drift detection and the pre-flight checks: pure logic on in-memory workspace states."""

from __future__ import annotations

import uuid
from dataclasses import replace

from shared.drift.detect import CompletedPack, DriftKind, detect_drift, owners, pipeline_owners, reconcile_spec
from shared.preflight.checks import CatalogFacts, check_pack
from shared.provisioning.diff import make_plan
from shared.provisioning.gateway import MetastoreSharing
from shared.provisioning.pipeline_state import ScheduleState, desired_pipeline
from shared.provisioning.sharing_diff import desired_object, desired_recipient
from shared.provisioning.workspace_state import ShareState, WorkspaceState
from shared.share_pack_file.model import DataObjectSpec, DataObjectType, ScdType, SharePackSpec, Strategy
from tests.support.builders import d2d, d2o, pack, pipeline, share

A, B = uuid.uuid4(), uuid.uuid4()


def as_provisioned(spec: SharePackSpec) -> WorkspaceState:
    """The workspace exactly as the pack declared it (pipelines and schedules read back with ids)."""
    share_of = {o.name: s.name for s in spec.shares for o in s.data_objects}
    pipelines = {}
    for declared in spec.pipelines:
        made = desired_pipeline(declared, share_of.get(declared.target_table or ""), project=spec.metadata.project_name)
        schedule = replace(made.schedule, job_id=7) if made.schedule else None
        pipelines[made.name] = replace(made, pipeline_id=f"id-{made.name}", schedule=schedule)
    state = WorkspaceState.of(
        recipients=[desired_recipient(r) for r in spec.recipients],
        shares=[
            ShareState(s.name, s.comment, frozenset(desired_object(o) for o in s.data_objects)) for s in spec.shares
        ],
        grants={s.name: s.recipients for s in spec.shares},
    )
    return replace(state, pipelines=pipelines)


def piped_pack() -> SharePackSpec:
    """The sales pack with a scheduled SCD 2 pipeline per table."""
    return replace(sales_pack(), pipelines=(
        pipeline("orders", "c.s.orders", scd=ScdType.SCD2, keys=["id"], cron="0 0 2 * * ?", emails=["ops@x.com"]),
        pipeline("returns", "c.s.returns", cron="0 0 3 * * ?"),
    ))


def sales_pack() -> SharePackSpec:
    return pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["203.0.113.0/24"]), d2d("globex")],
        shares=[share("sales", ["c.s.orders", "c.s.returns"], recipients=["acme", "globex"])],
    )


def test_a_workspace_as_declared_has_no_drift():
    spec = sales_pack()
    assert detect_drift(as_provisioned(spec), [CompletedPack(A, spec)]) == []


def test_missing_unexpected_and_changed_are_told_apart():
    spec = sales_pack()
    state = as_provisioned(spec)
    sales = state.shares["sales"]
    state = WorkspaceState.of(
        recipients=[
            state.recipients["globex"],
            desired_recipient(d2o("acme", ips=["0.0.0.0/0"])),
            desired_recipient(d2o("stranger")),
        ],
        shares=[ShareState("sales", None, frozenset(o for o in sales.objects if o.name != "c.s.returns"))],
        grants={"sales": {"acme", "globex", "stranger"}},
    )

    found = {(f.entity, f.name): f for f in detect_drift(state, [CompletedPack(A, spec)])}

    assert found[("data_object", "sales/c.s.returns")].kind is DriftKind.MISSING
    assert found[("grant", "sales/stranger")].kind is DriftKind.UNEXPECTED
    changed = found[("recipient", "acme")]
    assert changed.kind is DriftKind.CHANGED and changed.actual == {"allowed_ips": ["0.0.0.0/0"]}
    unowned = found[("recipient", "stranger")]
    assert unowned.share_pack_id is None and unowned.kind is DriftKind.UNEXPECTED
    assert all(f.share_pack_id == A for k, f in found.items() if k != ("recipient", "stranger"))


def test_the_last_completed_pack_owns_an_object_and_a_delete_releases_it():
    first = sales_pack()
    second = pack(Strategy.UPDATE, recipients=[d2o("acme", ips=["198.51.100.7"])])
    gone = pack(Strategy.DELETE, shares=[share("sales")])
    recipients, shares = owners([CompletedPack(A, first), CompletedPack(B, second), CompletedPack(A, gone)])
    assert recipients == {"acme": B, "globex": A} and shares == {}

    state = as_provisioned(first)  # acme still has the first pack's IP list
    found = detect_drift(state, [CompletedPack(A, first), CompletedPack(B, second)])
    assert [(f.share_pack_id, f.entity, f.name, f.kind) for f in found] == [(B, "recipient", "acme", "changed")]


def test_reconcile_turns_new_into_update_and_keeps_delete():
    assert reconcile_spec(sales_pack()).metadata.strategy is Strategy.UPDATE
    assert reconcile_spec(pack(Strategy.DELETE)).metadata.strategy is Strategy.DELETE


def facts(spec: SharePackSpec, tables: dict[str, str], *, scope: str = "INTERNAL_AND_EXTERNAL") -> CatalogFacts:
    return CatalogFacts(
        tables=tables,
        missing_schemas=frozenset(),
        sharing=MetastoreSharing(scope, None),
        share_count=0,
        state=WorkspaceState(),
    )


def test_a_view_declared_as_a_table_names_both_types():
    spec = pack(Strategy.NEW, shares=[share("s", ["c.s.v"])])
    errors, _ = check_pack(spec, facts(spec, {"c.s.v": "VIEW"}), make_plan(spec, WorkspaceState()))
    assert len(errors) == 1 and "TABLE" in errors[0].message and "VIEW" in errors[0].message
    assert errors[0].path == "share[0].data_objects[0].name"


def test_quota_past_the_limit_is_an_error_and_near_it_a_warning():
    big = pack(Strategy.NEW, shares=[share("big", [f"c.s.t{i}" for i in range(1001)])])
    near = pack(Strategy.NEW, shares=[share("near", [f"c.s.t{i}" for i in range(900)])])
    tables = {f"c.s.t{i}": "MANAGED" for i in range(1001)}
    errors, _ = check_pack(big, facts(big, tables), make_plan(big, WorkspaceState()))
    assert any("1001 exceeds" in e.message for e in errors)
    errors, warnings = check_pack(near, facts(near, tables), make_plan(near, WorkspaceState()))
    assert errors == [] and any("900 is close to" in w.message for w in warnings)


def test_volumes_and_models_are_not_looked_up():
    spec = pack(Strategy.NEW, shares=[share("s", [DataObjectSpec(name="c.s.vol", type=DataObjectType.VOLUME)])])
    errors, _ = check_pack(spec, facts(spec, {}), make_plan(spec, WorkspaceState()))
    assert errors == []


def test_every_action_a_plan_can_carry_out_is_a_kind_of_drift() -> None:
    # A finding is built from each change of a plan; an action missing here would raise KeyError mid-sync.
    from shared.drift.detect import _KIND_OF_ACTION
    from shared.provisioning.plan import Action

    assert set(_KIND_OF_ACTION) == set(Action) - {Action.ADOPT}  # adopted changes are not changes of the plan


def test_a_pack_s_pipelines_as_declared_have_no_drift():
    spec = piped_pack()
    assert detect_drift(as_provisioned(spec), [CompletedPack(A, spec)]) == []


def test_a_deleted_pipeline_and_an_edited_one_and_schedule_are_reported_for_their_pack():
    spec = piped_pack()
    state = as_provisioned(spec)
    orders = state.pipelines["orders"]
    edited = replace(orders, notification_list=(), tags={"owner": "someone"},
                     schedule=ScheduleState("0 0 5 * * ?", "UTC", ("ops@x.com",), job_id=7))
    state = replace(state, pipelines={"orders": edited})  # returns deleted by hand, with its job

    found = {(f.entity, f.name): f for f in detect_drift(state, [CompletedPack(A, spec)])}

    assert set(found) == {("pipeline", "returns"), ("schedule", "returns"), ("pipeline", "orders"),
                          ("schedule", "orders")}
    assert all(f.share_pack_id == A for f in found.values())
    assert found[("pipeline", "returns")].kind is DriftKind.MISSING
    assert found[("schedule", "returns")].kind is DriftKind.MISSING
    changed = found[("pipeline", "orders")]
    assert changed.kind is DriftKind.CHANGED
    assert changed.actual["notification_list"] == [] and changed.actual["tags"] == {"owner": "someone"}
    assert changed.expected["notification_list"] == ["ops@x.com"]
    retimed = found[("schedule", "orders")]
    assert retimed.kind is DriftKind.CHANGED and retimed.actual["cron"] == "0 0 5 * * ?"
    assert retimed.expected["cron"] == "0 0 2 * * ?"


def test_a_pipeline_whose_source_was_edited_is_reported_as_changed():
    spec = piped_pack()
    state = as_provisioned(spec)
    state = replace(state, pipelines={**state.pipelines,
                                      "orders": replace(state.pipelines["orders"], source_table="raw.other.t")})

    found = detect_drift(state, [CompletedPack(A, spec)])

    assert [(f.entity, f.name, f.kind) for f in found] == [("pipeline", "orders", DriftKind.CHANGED)]
    assert found[0].expected == {"source_table": "raw.s.orders"} and found[0].actual == {"source_table": "raw.other.t"}


def test_the_last_pack_declaring_a_pipeline_owns_it_and_a_delete_releases_it():
    first = piped_pack()
    second = replace(first, metadata=replace(first.metadata, strategy=Strategy.UPDATE), pipelines=(
        pipeline("orders", "c.s.orders", scd=ScdType.SCD2, keys=["id"], cron="0 0 4 * * ?", emails=["ops@x.com"]),
    ))
    gone = pack(Strategy.DELETE, pipelines=[pipeline("returns", "c.s.returns")])
    assert pipeline_owners([CompletedPack(A, first), CompletedPack(B, second), CompletedPack(A, gone)]) == {
        "orders": B
    }

    state = as_provisioned(first)  # orders still runs on the first pack's schedule
    found = detect_drift(state, [CompletedPack(A, first), CompletedPack(B, second)])
    assert [(f.share_pack_id, f.entity, f.name, f.kind) for f in found] == [(B, "schedule", "orders", "changed")]


def test_a_pipeline_of_ours_no_pack_declares_is_unexpected_without_a_pack():
    spec = piped_pack()
    state = as_provisioned(spec)
    stray = replace(state.pipelines["returns"], name="stray", share="elsewhere", pipeline_id="id-stray")
    state = replace(state, pipelines={**state.pipelines, "stray": stray})

    found = detect_drift(state, [CompletedPack(A, spec)])

    assert [(f.share_pack_id, f.entity, f.name, f.kind) for f in found] == [(None, "pipeline", "stray", "unexpected")]
    assert found[0].actual == stray.describe()
