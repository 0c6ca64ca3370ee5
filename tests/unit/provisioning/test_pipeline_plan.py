"""The pipeline and schedule part of the plan, and the rollback plan: pure diffs against a given state."""

from __future__ import annotations

from dataclasses import replace

from shared.provisioning.apply import StepResult
from shared.provisioning.apply_pipelines import hand_over
from shared.provisioning.diff import make_plan, make_rollback_plan
from shared.provisioning.pipeline_state import (
    PROJECT_TAG,
    PipelineIds,
    PipelineState,
    ScheduleState,
    desired_pipeline,
)
from shared.provisioning.plan import Section
from shared.provisioning.workspace_state import ShareState, WorkspaceState
from shared.share_pack_file.model import ScdType, Strategy
from shared.use_cases.lifecycle import rollback_specs
from tests.support.builders import d2o, pack, pipeline, share

ORDERS, LEDGER = "sales.reporting.orders", "sales.reporting.ledger"


def spec(strategy: Strategy, *, tables: tuple[str, ...] = (ORDERS, LEDGER), scd: ScdType = ScdType.SCD2,
         cron: str = "0 0 2 * * ?"):
    pipelines = [pipeline("orders", ORDERS, scd=scd, keys=["id"], cron=cron), pipeline("ledger", LEDGER,
                                                                                     continuous=True)]
    return pack(strategy, recipients=[d2o("acme")], shares=[share("sales", list(tables), recipients=["acme"])],
                pipelines=[p for p in pipelines if p.target_table in tables])


def existing(strategy: Strategy = Strategy.NEW) -> dict[str, PipelineState]:
    """The pipelines `spec(strategy)` would leave, as read back (with ids)."""
    made = {}
    for p in spec(strategy).pipelines:
        state = desired_pipeline(p, "sales", project="reporting")
        schedule = replace(state.schedule, job_id=7) if state.schedule else None
        made[p.name] = replace(state, pipeline_id=f"id-{p.name}", schedule=schedule)
    return made


def changes(plan) -> list[tuple[str, str, str]]:
    return [(str(c.entity), str(c.action), c.name) for c in plan.changes]


def test_new_creates_each_pipeline_and_the_schedule_of_the_scheduled_one() -> None:
    plan = make_plan(spec(Strategy.NEW), WorkspaceState())

    assert [c for c in changes(plan) if c[0] in ("pipeline", "schedule")] == [
        ("pipeline", "create", "orders"), ("pipeline", "create", "ledger"), ("schedule", "create", "orders")]
    create = plan.changes_for("pipelines")[0]
    assert create.share == "sales" and create.new["tags"] == {PROJECT_TAG: "reporting"}


def test_new_adopts_what_an_earlier_attempt_made_and_adds_a_missing_schedule() -> None:
    made = existing()
    made["orders"] = replace(made["orders"], schedule=None)  # died between steps 7 and 8
    plan = make_plan(spec(Strategy.NEW), WorkspaceState(pipelines=made))

    assert plan.can_apply
    assert [c for c in changes(plan) if c[0] in ("pipeline", "schedule")] == [("schedule", "create", "orders")]
    assert {c.name for c in plan.adopted if str(c.entity) == "pipeline"} == {"orders", "ledger"}


def test_an_update_refuses_to_change_the_scd_type_and_names_it() -> None:
    plan = make_plan(spec(Strategy.UPDATE, scd=ScdType.SCD1), WorkspaceState(pipelines=existing()))

    assert plan.conflicts == ("pipeline orders: scd_type cannot change (2 → 1); remove the pipeline in one pack "
                              "and declare it again in another",)


def test_an_update_changes_a_schedule_and_drops_the_pipelines_of_a_removed_table() -> None:
    actual = WorkspaceState(shares={"sales": ShareState("sales")}, pipelines=existing())
    plan = make_plan(spec(Strategy.UPDATE, tables=(LEDGER,)), actual)
    assert [c for c in changes(plan) if c[0] in ("pipeline", "schedule")] == [
        ("pipeline", "delete", "orders"), ("schedule", "delete", "orders")]
    assert plan.changes_for("schedules")[0].old["job_id"] == 7  # the job outlives its pipeline by one step

    reschedule = make_plan(spec(Strategy.UPDATE, cron="0 0 6 ? * MON"), WorkspaceState(pipelines=existing()))
    [change] = [c for c in reschedule.changes if str(c.entity) == "schedule"]
    assert (str(change.action), change.new["cron"]) == ("update", "0 0 6 ? * MON")


def test_a_delete_removes_the_schedules_first_then_the_pipelines_of_its_shares() -> None:
    plan = make_plan(pack(Strategy.DELETE, shares=[share("sales")]), WorkspaceState(
        shares={"sales": ShareState("sales")}, pipelines=existing()))

    assert changes(plan)[:3] == [("schedule", "delete", "orders"), ("pipeline", "delete", "ledger"),
                                 ("pipeline", "delete", "orders")]


def test_a_rollback_plan_restores_and_removes_without_repeating_a_change() -> None:
    first = spec(Strategy.NEW, tables=(ORDERS,))
    later = pack(Strategy.UPDATE, recipients=[d2o("acme"), d2o("globex")],
                 shares=[share("sales", [ORDERS, LEDGER], recipients=["acme", "globex"]),
                         share("extra", [LEDGER], recipients=["globex"])])
    restore, remove = rollback_specs(first, [later])
    assert ([r.name for r in remove.recipients], [s.name for s in remove.shares]) == (["globex"], ["extra"])

    actual = WorkspaceState.of(
        recipients=[], shares=[ShareState("sales"), ShareState("extra")],
        grants={"sales": ["acme", "globex"], "extra": ["globex"]},
    )
    plan = make_rollback_plan(restore, remove, actual)

    identities = [(str(c.entity), str(c.action), c.name, c.share) for c in plan.changes]
    assert len(identities) == len(set(identities))
    assert ("share", "delete", "extra", None) in identities and ("grant", "revoke", "globex", "sales") in identities
    assert ("pipeline", "create", "orders", "sales") in identities and plan.strategy is Strategy.UPDATE


def test_a_schedule_state_describes_its_definition_only() -> None:
    assert ScheduleState("0 0 2 * * ?", job_id=9).describe() == {"cron": "0 0 2 * * ?", "timezone": "UTC",
                                                                 "notification_list": []}


def test_changes_to_existing_pipelines_carry_the_ids_the_plan_read() -> None:
    actual = WorkspaceState(shares={"sales": ShareState("sales")}, pipelines=existing())
    plan = make_plan(spec(Strategy.UPDATE, tables=(LEDGER,), cron="0 0 5 * * ?"), actual)

    dropped = {(str(c.entity), str(c.action)): c for c in plan.changes if c.name == "orders"}
    assert dropped[("pipeline", "delete")].pipeline_id == "id-orders"
    assert dropped[("pipeline", "delete")].job_id == 7
    assert dropped[("schedule", "delete")].job_id == 7


def test_a_restore_replaces_a_pipeline_whose_immutable_fields_differ_and_schedules_it_again() -> None:
    restore = spec(Strategy.UPDATE, scd=ScdType.SCD1)
    plan = make_plan(restore, WorkspaceState(pipelines=existing()), exact=True)

    assert plan.can_apply
    assert [c for c in changes(plan) if c[2] == "orders"] == [("pipeline", "replace", "orders"),
                                                               ("schedule", "create", "orders")]
    replace_change = plan.changes_for("pipelines")[0]
    assert replace_change.pipeline_id == "id-orders" and replace_change.job_id == 7
    assert replace_change.pipeline().scd_type == "1"
    assert replace_change.describe() == "remove pipeline orders, then create it again in share sales"
    # the same difference outside a restore is still refused, with the field named
    assert "scd_type cannot change" in make_plan(restore, WorkspaceState(pipelines=existing())).conflicts[0]


def test_step_7_hands_the_ids_it_created_to_the_schedule_changes_of_step_8() -> None:
    plan = make_plan(spec(Strategy.NEW), WorkspaceState())
    result = StepResult(Section.PIPELINES, pipelines={"orders": PipelineIds("new-orders"), "ledger": PipelineIds("l")})

    handed = hand_over(plan, result)

    [schedule] = handed.changes_for(Section.SCHEDULES)
    assert (schedule.pipeline_id, schedule.job_id) == ("new-orders", None)
    assert handed.changes_for(Section.PIPELINES) == plan.changes_for(Section.PIPELINES)
    assert hand_over(plan, StepResult(Section.GRANTS)) is plan
