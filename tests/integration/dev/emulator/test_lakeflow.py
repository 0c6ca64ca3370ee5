"""Pipelines and jobs through the real databricks-sdk: shapes, status codes and runs driven by a hook."""

from __future__ import annotations

import base64

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceConflict
from databricks.sdk.service.jobs import (
    CronSchedule,
    JobEmailNotifications,
    JobSettings,
    PipelineTask,
    RunLifeCycleState,
    RunResultState,
    Task,
)
from databricks.sdk.service.pipelines import NotebookLibrary, PipelineLibrary
from databricks.sdk.service.workspace import ImportFormat, Language

from dev.emulator.control import EmulatorControl
from dev.emulator.lakeflow import quartz_problem


def _pipeline(client: WorkspaceClient, name: str = "sp_orders") -> str:
    client.workspace.mkdirs("/Shared/sp")  # an update reads the library from the workspace
    client.workspace.import_("/Shared/sp/orders", content=base64.b64encode(b"select 1").decode(),
                             format=ImportFormat.SOURCE, language=Language.SQL, overwrite=True)
    created = client.pipelines.create(
        name=name,
        catalog="sales",
        schema="shared",
        serverless=True,
        libraries=[PipelineLibrary(notebook=NotebookLibrary(path="/Shared/sp/orders"))],
        configuration={"source": "sales.raw.orders"},
        tags={"share_pack_id": "p1"},
    )
    assert created.pipeline_id
    return created.pipeline_id


def _job(client: WorkspaceClient, pipeline_id: str, cron: str = "0 30 2 * * ?", zone: str = "UTC") -> int:
    job = client.jobs.create(
        name="sp_orders_schedule",
        tasks=[Task(task_key="refresh", pipeline_task=PipelineTask(pipeline_id=pipeline_id))],
        schedule=CronSchedule(quartz_cron_expression=cron, timezone_id=zone),
        email_notifications=JobEmailNotifications(on_failure=["ops@example.com"]),
    )
    assert job.job_id is not None
    return job.job_id


def test_pipeline_create_get_update_delete(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    pipeline_id = _pipeline(workspace_client)
    got = workspace_client.pipelines.get(pipeline_id)
    assert got.name == "sp_orders" and got.spec is not None and got.spec.configuration == {"source": "sales.raw.orders"}
    assert got.state is not None and got.state.value == "IDLE"

    workspace_client.pipelines.update(pipeline_id, name="sp_orders", catalog="sales", schema="shared",
                                      configuration={"source": "sales.raw.orders_v2"})
    spec = workspace_client.pipelines.get(pipeline_id).spec
    assert spec is not None and spec.configuration == {"source": "sales.raw.orders_v2"}
    assert spec.tags is None  # PUT replaces the whole spec: what is not resent is gone

    names = [p.name for p in workspace_client.pipelines.list_pipelines(filter="name LIKE '%orders%'")]
    assert names == ["sp_orders"]
    workspace_client.pipelines.delete(pipeline_id)
    with pytest.raises(NotFound, match="was not found"):
        workspace_client.pipelines.get(pipeline_id)
    assert emulator.lakeflow_state()["pipelines"] == []


def test_pipeline_names_are_unique_and_list_pages_are_bounded(workspace_client: WorkspaceClient) -> None:
    _pipeline(workspace_client)
    with pytest.raises(ResourceConflict, match="already exists"):
        _pipeline(workspace_client)
    with pytest.raises(InvalidParameterValue):
        list(workspace_client.pipelines.list_pipelines(max_results=101))


def test_job_with_pipeline_task_schedule_and_notifications(workspace_client: WorkspaceClient) -> None:
    pipeline_id = _pipeline(workspace_client)
    job_id = _job(workspace_client, pipeline_id, zone="Europe/Paris")
    job = workspace_client.jobs.get(job_id)
    assert job.settings is not None and job.settings.schedule is not None
    assert job.settings.schedule.quartz_cron_expression == "0 30 2 * * ?"
    assert job.settings.tasks is not None and job.settings.tasks[0].pipeline_task is not None
    assert job.settings.tasks[0].pipeline_task.pipeline_id == pipeline_id

    workspace_client.jobs.reset(job_id, JobSettings(
        name="sp_orders_schedule",
        tasks=[Task(task_key="refresh", pipeline_task=PipelineTask(pipeline_id=pipeline_id))],
        schedule=CronSchedule(quartz_cron_expression="0 0 6 ? * MON-FRI", timezone_id="UTC"),
    ))
    settings = workspace_client.jobs.get(job_id).settings
    assert settings is not None and settings.schedule is not None and settings.email_notifications is None
    assert settings.schedule.quartz_cron_expression == "0 0 6 ? * MON-FRI"

    workspace_client.jobs.delete(job_id)
    with pytest.raises(NotFound, match="does not exist"):
        workspace_client.jobs.get(job_id)


@pytest.mark.parametrize(("cron", "zone"), [("30 2 * * *", "UTC"), ("0 30 2 * * 1", "UTC"),
                                            ("0 30 2 * * ?", "Mars/Olympus")])
def test_job_refuses_a_bad_schedule(workspace_client: WorkspaceClient, cron: str, zone: str) -> None:
    pipeline_id = _pipeline(workspace_client)
    with pytest.raises(InvalidParameterValue):
        _job(workspace_client, pipeline_id, cron=cron, zone=zone)


def test_job_refuses_a_missing_pipeline(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        _job(workspace_client, "no-such-pipeline")


def test_runs_are_listed_newest_first_with_their_outcome(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    job_id = _job(workspace_client, _pipeline(workspace_client))
    first = emulator.add_run(job_id, result="SUCCESS", duration_s=60, started_s_ago=3600)
    second = emulator.add_run(job_id, result="FAILED", duration_s=5, message="table not found", started_s_ago=60)
    running = workspace_client.jobs.run_now(job_id).run_id
    assert running is not None

    runs = list(workspace_client.jobs.list_runs(job_id=job_id))
    assert [r.run_id for r in runs] == [running, second, first]
    assert runs[0].state is not None and runs[0].state.life_cycle_state is RunLifeCycleState.RUNNING
    failed = workspace_client.jobs.get_run(second)
    assert failed.state is not None and failed.state.result_state is RunResultState.FAILED
    assert failed.state.state_message == "table not found"
    assert failed.end_time is not None and failed.start_time is not None
    assert failed.end_time - failed.start_time == 5000

    emulator.finish_run(running, result="SUCCESS")
    done = workspace_client.jobs.get_run(running)
    assert done.state is not None and done.state.life_cycle_state is RunLifeCycleState.TERMINATED


def test_a_run_that_takes_n_seconds_is_running_until_then(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    job_id = _job(workspace_client, _pipeline(workspace_client))
    run_id = emulator.add_run(job_id, result="SUCCESS", duration_s=3600)
    run = workspace_client.jobs.get_run(run_id)
    assert run.state is not None and run.state.life_cycle_state is RunLifeCycleState.RUNNING
    assert run.end_time == 0


def test_quartz_rules() -> None:
    assert quartz_problem("0 15 8 ? * 2-6") is None
    assert quartz_problem("0 0 0 1 * ? 2030") is None
    assert "6 or 7" in (quartz_problem("15 8 * * 1-5") or "")
    assert "exactly one" in (quartz_problem("0 0 0 1 * 2") or "")
