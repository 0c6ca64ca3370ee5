"""Steps 7 and 8 with the real databricks-sdk against the emulator: pipelines and their schedules."""

from __future__ import annotations

import base64

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.models import Pipeline, SharePack
from shared.models.history import History
from shared.platform.status import SharePackStatus
from shared.provisioning.diff import make_plan
from shared.provisioning.errors import PermanentProvisioningError
from shared.provisioning.gateway import DatabricksGateway
from shared.provisioning.pipeline_state import PIPELINE_SOURCE, SOURCE_FOLDER, source_path
from shared.provisioning.plan import Plan, Section
from shared.provisioning.steps import apply_plan, apply_step
from shared.share_pack_file.model import ScdType, SharePackSpec, Strategy
from tests.integration.provisioning.test_job import WORKSPACE, Never, StopAfter, submit
from tests.support.builders import d2o, pack, pipeline, share
from worker.jobs.provision import ProvisioningInterrupted, ProvisioningJob

ORDERS, LEDGER, EXTRA = "sales.reporting.orders", "sales.reporting.ledger", "sales.reporting.extra"


@pytest.fixture(autouse=True)
def tables(emulator: EmulatorControl) -> None:
    emulator.seed_tables([ORDERS, LEDGER, EXTRA])


def two_pipelines(strategy: Strategy = Strategy.NEW, *, tables: tuple[str, ...] = (ORDERS, LEDGER),
                  cron: str = "0 30 2 * * ?", source: str | None = None) -> SharePackSpec:
    pipelines = [
        pipeline("orders_nightly", ORDERS, source=source, scd=ScdType.SCD2, keys=["order_id"], cron=cron,
                 emails=["ops@example.com"]),
        pipeline("ledger_live", LEDGER, continuous=True),
    ]
    return pack(
        strategy,
        recipients=[d2o("acme")],
        shares=[share("sales", list(tables), recipients=["acme"])],
        pipelines=[p for p in pipelines if p.target_table in tables],
    )


def plan_for(spec: SharePackSpec, gateway: DatabricksGateway) -> Plan:
    return make_plan(spec, gateway.read_state(spec))


def test_a_scheduled_and_a_continuous_pipeline_are_created(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    state = emulator.lakeflow_state()
    specs = {p["name"]: p["spec"] for p in state["pipelines"]}
    assert set(specs) == {"orders_nightly", "ledger_live"}
    assert specs["ledger_live"]["continuous"] is True
    assert specs["orders_nightly"]["catalog"] == "sales" and specs["orders_nightly"]["schema"] == "reporting"
    assert specs["orders_nightly"]["configuration"]["sharepack.key_columns"] == "order_id"
    [job] = state["jobs"]
    settings = job["settings"]
    assert settings["name"] == "orders_nightly_schedule"
    assert settings["schedule"]["quartz_cron_expression"] == "0 30 2 * * ?"
    assert settings["email_notifications"] == {"on_failure": ["ops@example.com"]}
    nightly = next(p for p in state["pipelines"] if p["name"] == "orders_nightly")
    assert settings["tasks"][0]["pipeline_task"]["pipeline_id"] == nightly["pipeline_id"]
    assert plan_for(two_pipelines(), gateway).is_empty  # converged


def test_a_crash_between_the_steps_resumes_without_duplicates(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    first = plan_for(two_pipelines(), gateway)
    for section in (Section.RECIPIENTS, Section.SHARES, Section.DATA_OBJECTS, Section.GRANTS, Section.PIPELINES):
        apply_step(section, first, gateway)
    # ... the worker dies here; the next attempt plans again from the workspace
    again = plan_for(two_pipelines(), gateway)
    assert [(c.entity, c.action, c.name) for c in again.changes] == [("schedule", "create", "orders_nightly")]
    apply_plan(again, gateway)
    apply_plan(first, gateway)  # even the stale plan re-applied creates nothing twice
    state = emulator.lakeflow_state()
    assert len(state["pipelines"]) == 2 and len(state["jobs"]) == 1


def test_an_update_that_drops_a_table_drops_its_pipeline_and_schedule(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    update = plan_for(two_pipelines(Strategy.UPDATE, tables=(LEDGER,)), gateway)
    assert {(c.entity, c.action, c.name) for c in update.changes} >= {
        ("pipeline", "delete", "orders_nightly"), ("schedule", "delete", "orders_nightly")}
    apply_plan(update, gateway)

    state = emulator.lakeflow_state()
    assert [p["name"] for p in state["pipelines"]] == ["ledger_live"]
    assert state["jobs"] == []


def test_an_update_changes_the_schedule_in_place(gateway: DatabricksGateway, emulator: EmulatorControl) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)
    [before] = emulator.lakeflow_state()["jobs"]

    update = plan_for(two_pipelines(Strategy.UPDATE, cron="0 0 6 ? * MON-FRI"), gateway)
    assert [(c.entity, c.action) for c in update.changes] == [("schedule", "update")]
    apply_plan(update, gateway)

    [after] = emulator.lakeflow_state()["jobs"]
    assert after["job_id"] == before["job_id"]
    assert after["settings"]["schedule"]["quartz_cron_expression"] == "0 0 6 ? * MON-FRI"


def test_an_update_may_not_change_a_pipelines_source(gateway: DatabricksGateway) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    update = plan_for(two_pipelines(Strategy.UPDATE, source="raw.other.orders"), gateway)

    assert not update.can_apply
    assert "pipeline orders_nightly: source_table cannot change" in update.conflicts[0]


def test_a_delete_removes_the_pipelines_of_its_shares(gateway: DatabricksGateway, emulator: EmulatorControl) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    apply_plan(plan_for(pack(Strategy.DELETE, recipients=[d2o("acme")], shares=[share("sales")]), gateway), gateway)

    assert emulator.lakeflow_state() == {"pipelines": [], "jobs": []}


def _source(client: WorkspaceClient, pipeline_name: str) -> str:
    exported = client.workspace.export(source_path(pipeline_name))
    return base64.b64decode(exported.content or "").decode("utf-8")


def test_each_pipeline_runs_its_generated_source_from_the_workspace(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    for name in ("orders_nightly", "ledger_live"):
        status = workspace_client.workspace.get_status(source_path(name))
        assert status.object_type is ObjectType.NOTEBOOK and status.language is Language.PYTHON
        assert _source(workspace_client, name) == PIPELINE_SOURCE
    specs = {p["name"]: p["spec"] for p in emulator.lakeflow_state()["pipelines"]}
    assert specs["orders_nightly"]["libraries"] == [{"notebook": {"path": source_path("orders_nightly")}}]


def test_a_retry_re_imports_the_source_over_an_earlier_copy(
    gateway: DatabricksGateway, emulator: EmulatorControl, workspace_client: WorkspaceClient
) -> None:
    # A crash after the import but before pipelines.create leaves a (here: stale) notebook behind.
    workspace_client.workspace.mkdirs(SOURCE_FOLDER)
    workspace_client.workspace.import_(source_path("orders_nightly"), content=base64.b64encode(b"stale").decode(),
                                       format=ImportFormat.SOURCE, language=Language.PYTHON)

    apply_plan(plan_for(two_pipelines(), gateway), gateway)

    assert _source(workspace_client, "orders_nightly") == PIPELINE_SOURCE
    assert len(emulator.lakeflow_state()["pipelines"]) == 2


def test_dropping_a_pipeline_deletes_its_source_only(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient
) -> None:
    apply_plan(plan_for(two_pipelines(), gateway), gateway)
    workspace_client.workspace.delete(source_path("ledger_live"))  # already gone: still fine

    apply_plan(plan_for(two_pipelines(Strategy.UPDATE, tables=(ORDERS,)), gateway), gateway)
    with pytest.raises(NotFound):
        workspace_client.workspace.get_status(source_path("ledger_live"))
    assert _source(workspace_client, "orders_nightly") == PIPELINE_SOURCE

    apply_plan(plan_for(pack(Strategy.DELETE, recipients=[d2o("acme")], shares=[share("sales")]), gateway), gateway)
    with pytest.raises(NotFound):
        workspace_client.workspace.get_status(source_path("orders_nightly"))


def test_a_source_path_is_one_workspace_name_per_pipeline() -> None:
    assert source_path("orders_nightly") == f"{SOURCE_FOLDER}/orders_nightly"
    assert source_path("a/b") != source_path("a_b")
    assert "/" not in source_path("a/b").removeprefix(f"{SOURCE_FOLDER}/")


def test_a_job_stopped_between_steps_7_and_8_resumes_and_records_each_pipeline_once(
    gateway: DatabricksGateway, emulator: EmulatorControl, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    job = ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)
    command = submit(session_factory, two_pipelines())

    with pytest.raises(ProvisioningInterrupted):
        job.run(command, StopAfter(checks=7))  # the job checks before each step: stop at the one before 8
    with session_factory() as session:
        status = History(session, SharePack).get_current(command.share_pack_id).provisioning_status
    assert status == "Interrupted before step 8/8; will resume"
    state = emulator.lakeflow_state()
    assert len(state["pipelines"]) == 2 and state["jobs"] == []

    job.run(command, Never())

    state = emulator.lakeflow_state()
    assert len(state["pipelines"]) == 2 and len(state["jobs"]) == 1
    ids = {p["name"]: p["pipeline_id"] for p in state["pipelines"]}
    with session_factory() as session:
        rows = session.scalars(select(Pipeline).where(Pipeline.is_current)).all()
        recorded = {r.pipeline_name: (r.workspace_url, r.databricks_pipeline_id, r.databricks_job_id) for r in rows}
        pack_row = History(session, SharePack).get_current(command.share_pack_id)
        assert pack_row.share_pack_status == SharePackStatus.COMPLETED
    assert recorded == {
        "orders_nightly": (WORKSPACE, ids["orders_nightly"], str(state["jobs"][0]["job_id"])),
        "ledger_live": (WORKSPACE, ids["ledger_live"], None),
    }


def test_steps_7_and_8_call_only_what_each_change_needs(gateway: DatabricksGateway, emulator: EmulatorControl) -> None:
    plan = plan_for(two_pipelines(), gateway)
    for section in (Section.RECIPIENTS, Section.SHARES, Section.DATA_OBJECTS, Section.GRANTS):
        apply_step(section, plan, gateway)
    emulator.clear_requests()
    apply_plan(Plan(plan.strategy, plan.changes_for(Section.PIPELINES) + plan.changes_for(Section.SCHEDULES)), gateway)

    calls = sorted(f"{r['method']} {r['path'].split('/api/')[-1]}" for r in emulator.requests())
    ids_before = {p["name"]: p["pipeline_id"] for p in emulator.lakeflow_state()["pipelines"]}
    # one folder for the step, then per pipeline its source and the create; one job for the scheduled one
    assert calls == ["POST 2.0/pipelines", "POST 2.0/pipelines", "POST 2.0/workspace/import",
                     "POST 2.0/workspace/import", "POST 2.0/workspace/mkdirs", "POST 2.2/jobs/create"]

    update = plan_for(two_pipelines(Strategy.UPDATE, tables=(LEDGER,)), gateway)
    emulator.clear_requests()
    apply_plan(update, gateway)
    lakeflow_calls = [r for r in emulator.requests() if "/unity-catalog/" not in r["path"]]
    # the dropped pipeline: its job, its source, itself; no lookups (the plan read the ids)
    assert [f"{r['method']} {r['path'].split('/api/')[-1]}" for r in lakeflow_calls] == [
        "POST 2.2/jobs/delete", "POST 2.0/workspace/delete", f"DELETE 2.0/pipelines/{ids_before['orders_nightly']}"]


def exact_plan(spec: SharePackSpec, gateway: DatabricksGateway) -> Plan:
    return make_plan(spec, gateway.read_state(spec), exact=True)


def definitions(emulator: EmulatorControl) -> tuple[dict, dict]:
    state = emulator.lakeflow_state()
    names = {p["pipeline_id"]: p["name"] for p in state["pipelines"]}
    pipelines = {p["name"]: {k: v for k, v in p["spec"].items() if k != "id"} for p in state["pipelines"]}
    jobs = {j["settings"]["name"]: (j["settings"]["schedule"], names[j["settings"]["tasks"][0]["pipeline_task"]
                                                                      ["pipeline_id"]]) for j in state["jobs"]}
    return pipelines, jobs


def test_a_restore_replaces_a_pipeline_and_a_crash_inside_the_replacement_resumes(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    target = two_pipelines(Strategy.UPDATE)
    apply_plan(plan_for(two_pipelines(), gateway), gateway)
    as_target = definitions(emulator)
    apply_plan(exact_plan(two_pipelines(Strategy.UPDATE, source="raw.erp.orders"), gateway), gateway)
    assert definitions(emulator) != as_target

    plan = exact_plan(target, gateway)
    assert [(c.entity, c.action, c.name) for c in plan.changes if c.name == "orders_nightly"] == [
        ("pipeline", "replace", "orders_nightly"), ("schedule", "create", "orders_nightly")]
    # the old pipeline and its job are deleted, then the create is refused: the worker would stop here
    emulator.inject_fault(method="POST", path_regex=r"/api/2\.0/pipelines$", status=400,
                          error_code="INVALID_PARAMETER_VALUE")
    with pytest.raises(PermanentProvisioningError):
        apply_plan(plan, gateway)
    assert emulator.lakeflow_state()["jobs"] == []

    again = exact_plan(target, gateway)
    assert [(c.entity, c.action, c.name) for c in again.changes if c.name == "orders_nightly"] == [
        ("pipeline", "create", "orders_nightly"), ("schedule", "create", "orders_nightly")]
    apply_plan(again, gateway)
    assert definitions(emulator) == as_target
    assert exact_plan(target, gateway).is_empty


def test_a_create_whose_reply_was_lost_adopts_what_it_made(
    gateway: DatabricksGateway, emulator: EmulatorControl
) -> None:
    plan = plan_for(two_pipelines(), gateway)
    emulator.lose_replies(method="POST", path_regex=r"/api/2\.0/pipelines$", status=400,
                          error_code="INVALID_PARAMETER_VALUE")  # made, but the reply is lost
    apply_plan(plan, gateway)

    state = emulator.lakeflow_state()
    assert len(state["pipelines"]) == 2 and len(state["jobs"]) == 1
    assert plan_for(two_pipelines(), gateway).is_empty
