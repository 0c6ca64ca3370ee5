"""Recorded contract of the Jobs API rows of dev/emulator/README.md, driven through databricks-sdk as the product is.

The recorded answer (terraform-provider-databricks#2225, a real workspace's reply to ``GET /api/2.1/jobs/get``
for a deleted job) is the fixture: 400, ``INVALID_PARAMETER_VALUE``, "Job <id> does not exist.".
"""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceDoesNotExist
from databricks.sdk.service.jobs import CronSchedule, JobSettings, PipelineTask, Task

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl

#: https://github.com/databricks/terraform-provider-databricks/pull/2225 (GET /api/2.1/jobs/get, HTTP/2.0 400).
RECORDED_MISSING_JOB = (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job {id} does not exist."})
MISSING = 998654886170278  # the id of the recording


def _raw(emulator: EmulatorControl, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{emulator.url}{path}", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                            timeout=10, **kwargs)


def _job(client: WorkspaceClient, name: str) -> int:
    pipeline = client.pipelines.create(name=f"p_{name}", catalog="sales", schema="shared", serverless=True)
    created = client.jobs.create(
        name=name, tasks=[Task(task_key="refresh", pipeline_task=PipelineTask(pipeline_id=str(pipeline.pipeline_id)))],
        schedule=CronSchedule(quartz_cron_expression="0 30 2 * * ?", timezone_id="UTC"),
    )
    return int(created.job_id or 0)


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_a_missing_job_is_answered_as_recorded(emulator: EmulatorControl, version: str) -> None:
    reply = _raw(emulator, "GET", f"/api/{version}/jobs/get", params={"job_id": MISSING})
    status, body = RECORDED_MISSING_JOB
    assert reply.status_code == status
    assert {k: reply.json()[k] for k in body} == {**body, "message": body["message"].format(id=MISSING)}


def test_the_sdk_maps_the_missing_job_to_not_found_only_for_jobs_get_and_runs_get(
    workspace_client: WorkspaceClient,
) -> None:
    with pytest.raises(ResourceDoesNotExist, match=f"Job {MISSING} does not exist"):
        workspace_client.jobs.get(MISSING)
    with pytest.raises(ResourceDoesNotExist, match=f"Run {MISSING} does not exist"):
        workspace_client.jobs.get_run(MISSING)
    settings = JobSettings(name="x", schedule=CronSchedule(quartz_cron_expression="0 30 2 * * ?", timezone_id="UTC"))
    for call in (lambda: workspace_client.jobs.delete(MISSING),
                 lambda: workspace_client.jobs.reset(MISSING, settings),
                 lambda: workspace_client.jobs.update(MISSING, new_settings=settings),
                 lambda: workspace_client.jobs.run_now(MISSING),
                 lambda: list(workspace_client.jobs.list_runs(job_id=MISSING))):
        with pytest.raises(InvalidParameterValue, match=f"Job {MISSING} does not exist") as refused:
            call()
        assert not isinstance(refused.value, NotFound)  # no override: the product must not read it as gone


def test_the_name_filter_of_jobs_list_is_case_insensitive(workspace_client: WorkspaceClient) -> None:
    upper, lower = _job(workspace_client, "Orders_schedule"), _job(workspace_client, "orders_schedule")
    _job(workspace_client, "orders_schedule_2")
    listed = [job.job_id for job in workspace_client.jobs.list(name="ORDERS_SCHEDULE")]
    assert listed == [upper, lower]


def test_a_jobs_list_carries_settings_but_tasks_only_when_expanded(workspace_client: WorkspaceClient) -> None:
    _job(workspace_client, "orders_schedule")
    [plain] = workspace_client.jobs.list(name="orders_schedule")
    [expanded] = workspace_client.jobs.list(name="orders_schedule", expand_tasks=True)
    assert plain.settings is not None and plain.settings.schedule is not None and not plain.settings.tasks
    assert expanded.settings is not None and [t.task_key for t in expanded.settings.tasks or ()] == ["refresh"]


@pytest.mark.parametrize(("path", "limit"), [("/api/2.2/jobs/list", 0), ("/api/2.2/jobs/list", 101),
                                             ("/api/2.2/jobs/runs/list", 25), ("/api/2.2/jobs/runs/list", -1)])
def test_page_limits_outside_the_documented_range_are_refused(
    emulator: EmulatorControl, path: str, limit: int
) -> None:
    reply = _raw(emulator, "GET", path, params={"limit": limit})
    assert (reply.status_code, reply.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
