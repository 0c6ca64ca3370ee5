"""The gateway's job lookup and deletion against the Jobs API's real answers (as the emulator gives them).

The name filter of ``jobs.list`` is case-insensitive and a missing job is refused with 400
INVALID_PARAMETER_VALUE on every endpoint but ``jobs/get``; see dev/emulator/README.md, "Jobs".
"""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import CronSchedule, PipelineTask, Task

from dev.emulator.control import EmulatorControl
from shared.provisioning.errors import ObjectDoesNotExist, PermanentProvisioningError
from shared.provisioning.gateway import DatabricksGateway
from shared.provisioning.pipeline_state import ScheduleState
from shared.provisioning.steps import apply_plan
from tests.integration.provisioning.test_pipelines import ORDERS, plan_for, two_pipelines


@pytest.fixture(autouse=True)
def orders(emulator: EmulatorControl) -> None:
    emulator.seed_tables([ORDERS])


def _impostor(client: WorkspaceClient, name: str, cron: str) -> int:
    """Create, before our pipeline exists, a scheduled job whose name differs from our schedule's only in case."""
    other = client.pipelines.create(name="someone_elses", catalog="sales", schema="reporting", serverless=True)
    job = client.jobs.create(
        name=name, tasks=[Task(task_key="refresh", pipeline_task=PipelineTask(pipeline_id=str(other.pipeline_id)))],
        schedule=CronSchedule(quartz_cron_expression=cron, timezone_id="UTC"),
    )
    return int(job.job_id or 0)


def test_a_job_whose_name_differs_only_in_case_is_not_taken_for_the_schedule(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient
) -> None:
    impostor = _impostor(workspace_client, "ORDERS_NIGHTLY_SCHEDULE", "0 0 5 * * ?")
    listed = workspace_client.jobs.list(name="orders_nightly_schedule")
    assert impostor in [job.job_id for job in listed]  # the filter is case-insensitive, as in production

    apply_plan(plan_for(two_pipelines(tables=(ORDERS,)), gateway), gateway)

    found = gateway.find_pipeline("orders_nightly")
    assert found is not None and found.schedule is not None
    assert found.schedule.job_id != impostor and found.schedule.cron == "0 30 2 * * ?"
    assert workspace_client.jobs.get(impostor).settings.schedule.quartz_cron_expression == "0 0 5 * * ?"


def test_deleting_a_job_that_is_already_gone_is_confirmed_by_jobs_get(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    job_id = _impostor(workspace_client, "doomed", "0 0 5 * * ?")
    workspace_client.jobs.delete(job_id)
    before = len(emulator.requests(path_contains="/jobs/"))

    with pytest.raises(ObjectDoesNotExist):
        gateway.delete_schedule(job_id)

    calls = [(r["method"], r["path"].split("?")[0], r["status"])
             for r in emulator.requests(path_contains="/jobs/")[before:]]
    assert calls == [("POST", "/api/2.2/jobs/delete", 400), ("GET", "/api/2.2/jobs/get", 400)]


def test_resetting_a_job_that_is_gone_says_so(gateway: DatabricksGateway, workspace_client: WorkspaceClient) -> None:
    job_id = _impostor(workspace_client, "doomed", "0 0 5 * * ?")
    workspace_client.jobs.delete(job_id)
    with pytest.raises(ObjectDoesNotExist):
        gateway.reset_schedule(job_id, "orders_nightly", "p-1", ScheduleState(cron="0 0 5 * * ?", timezone="UTC"),
                               tags={})


def test_a_refused_deletion_of_a_job_that_exists_stays_refused(
    gateway: DatabricksGateway, workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    job_id = _impostor(workspace_client, "kept", "0 0 5 * * ?")
    emulator.inject_fault(path_regex=r"/jobs/delete$", status=400, error_code="INVALID_PARAMETER_VALUE",
                          message=f"Job {job_id} does not exist.")  # the text of a missing job, for a present one

    with pytest.raises(PermanentProvisioningError) as refused:
        gateway.delete_schedule(job_id)

    assert not isinstance(refused.value, ObjectDoesNotExist)
    assert workspace_client.jobs.get(job_id).job_id == job_id
