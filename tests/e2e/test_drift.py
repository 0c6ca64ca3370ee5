"""Drift end to end: a table removed from a share, a pipeline deleted and a schedule re-timed behind the
service's back are reported by the next Databricks sync, and reconcile puts them back — API, Azurite, a
worker process and the emulator, changed by hand through the SDK as an operator would."""

from __future__ import annotations

import threading
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.jobs import CronSchedule, JobSettings
from databricks.sdk.service.pipelines import Notifications
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from sqlalchemy import Engine, select

from dev.emulator.auth import DEFAULT_TOKEN
from shared.drift.sync import DatabricksObjectsSync
from shared.models import SyncJob
from shared.platform.credentials import DatabricksCredentials
from shared.platform.db import make_session_factory
from shared.provisioning.clients import WorkspaceClients
from sync.jobs.base import JobContext
from sync.jobs.databricks_objects import DatabricksObjectsJob
from sync.runner import SyncRunner
from tests.e2e.conftest import Stack

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "sample_sharepack.yaml").read_text()
SHARE = "sales_reporting"
TABLE = "sales.reporting.returns"
PIPELINES = """
pipelines:
  - name: returns_nightly
    source_table: raw.sales.returns
    target_table: sales.reporting.returns
    scd_type: 2
    key_columns: [return_id]
    schedule: "30 2 * * *"
    notification_list: [ops@example.com]
  - name: orders_hourly
    source_table: raw.sales.orders
    target_table: sales.reporting.orders
    schedule: "0 * * * *"
"""


def client_for(url: str) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=url, token=DEFAULT_TOKEN, auth_type="pat", retry_timeout_seconds=15))


def tables_in(client: WorkspaceClient, share: str) -> set[str]:
    return {o.name for o in client.shares.get(share, include_shared_data=True).objects or ()}


def run_sync(engine: Engine, stack: Stack) -> SyncJob:
    """One scheduled run of the sync service's DATABRICKS_OBJECTS job, as `python -m sync` runs it."""
    sessions = make_session_factory(engine)
    clients = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), retry_timeout_seconds=15)
    job = DatabricksObjectsJob(
        DatabricksObjectsSync(sessions, reader_for=clients.gateway), lambda: [stack.emulator.url]
    )
    outcome = SyncRunner(engine, sessions).run(job, JobContext(threading.Event()))
    assert outcome is not None
    with sessions() as session:
        return session.scalars(select(SyncJob).where(SyncJob.sync_job_id == outcome.sync_job_id)).one()


def test_a_table_removed_by_hand_is_reported_and_reconcile_puts_it_back(stack: Stack, engine: Engine) -> None:
    stack.start_worker()
    pack_id = stack.upload(EXAMPLE)
    assert stack.wait_final(pack_id)["Status"] == "COMPLETED"
    workspace = client_for(stack.emulator.url)
    assert TABLE in tables_in(workspace, SHARE)

    # someone removes the table by hand, through the workspace's API
    workspace.shares.update(
        SHARE,
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE,
                data_object=SharedDataObject(name=TABLE, data_object_type=SharedDataObjectDataObjectType.TABLE),
            )
        ],
    )
    run = run_sync(engine, stack)
    assert run.status == "COMPLETED" and run.details["workspaces"][stack.emulator.url]["drift"] == 1

    drift = stack.client.get(f"/workflow/sharepack/{pack_id}/drift", headers=stack.headers).json
    assert drift["Drift"] == [
        {
            "Entity": "data_object",
            "Name": f"{SHARE}/{TABLE}",
            "Kind": "missing",
            "Expected": {"type": "TABLE", "shared_as": None, "history": True},
            "Actual": None,
        }
    ]
    listed = stack.client.get("/workflow/drift", headers=stack.headers).json["SharePacks"]
    assert [p["SharePackId"] for p in listed] == [pack_id]

    reconcile = stack.client.post(f"/workflow/sharepack/{pack_id}/reconcile", headers=stack.headers)
    assert reconcile.status_code == 202, reconcile.json
    stack.wait_for(pack_id, lambda s: s["Status"] == "COMPLETED" and "Completed" in (s["ProvisioningStatus"] or ""))

    assert TABLE in tables_in(workspace, SHARE)
    plan = stack.client.get(f"/workflow/sharepack/{pack_id}/plan", headers=stack.headers).json["Plan"]
    assert [(c["action"], c["name"]) for c in plan["steps"]["data_objects"]] == [("add", TABLE)]
    again = run_sync(engine, stack)
    assert again.details["workspaces"][stack.emulator.url]["drift"] == 0
    assert stack.client.get(f"/workflow/sharepack/{pack_id}/drift", headers=stack.headers).json["Drift"] == []


def pipelines_of(client: WorkspaceClient) -> dict[str, str]:
    """Pipeline name → id, as the workspace lists them."""
    return {p.name: p.pipeline_id for p in client.pipelines.list_pipelines() if p.name and p.pipeline_id}


def schedules_of(client: WorkspaceClient) -> dict[str, str]:
    """Job name → its Quartz cron, for every scheduled job."""
    return {
        job.settings.name: job.settings.schedule.quartz_cron_expression
        for job in client.jobs.list()
        if job.settings and job.settings.name and job.settings.schedule
    }


def test_a_pipeline_deleted_and_a_schedule_retimed_by_hand_are_reported_and_reconciled(
    stack: Stack, engine: Engine
) -> None:
    stack.start_worker()
    pack_id = stack.upload(EXAMPLE + PIPELINES)
    assert stack.wait_final(pack_id)["Status"] == "COMPLETED"
    workspace = client_for(stack.emulator.url)
    as_declared = schedules_of(workspace)
    assert set(pipelines_of(workspace)) == {"returns_nightly", "orders_hourly"}
    assert run_sync(engine, stack).details["workspaces"][stack.emulator.url]["drift"] == 0

    hourly_id = pipelines_of(workspace)["orders_hourly"]
    declared = workspace.pipelines.get(hourly_id).spec
    assert declared is not None

    # someone deletes one pipeline and its job, retags the other and mails a stranger on its failures, and
    # moves its schedule, all through the workspace's API
    workspace.pipelines.delete(pipelines_of(workspace)["returns_nightly"])
    workspace.pipelines.update(
        hourly_id, name=declared.name, catalog=declared.catalog, schema=declared.schema,
        serverless=declared.serverless, continuous=declared.continuous, libraries=declared.libraries,
        configuration=declared.configuration, tags={"owner": "someone"},
        notifications=[Notifications(email_recipients=["stranger@example.com"], alerts=["on-update-failure"])],
    )
    for job in workspace.jobs.list(name="returns_nightly_schedule"):
        workspace.jobs.delete(job.job_id)
    hourly = next(iter(workspace.jobs.list(name="orders_hourly_schedule")))
    settings = workspace.jobs.get(hourly.job_id).settings
    workspace.jobs.reset(
        hourly.job_id,
        new_settings=JobSettings(
            name=settings.name,
            tasks=settings.tasks,
            tags=settings.tags,
            email_notifications=settings.email_notifications,
            schedule=CronSchedule(quartz_cron_expression="0 0 5 * * ?", timezone_id="UTC"),
        ),
    )

    run = run_sync(engine, stack)
    assert run.status == "COMPLETED" and run.details["workspaces"][stack.emulator.url]["drift"] == 4
    drift = stack.client.get(f"/workflow/sharepack/{pack_id}/drift", headers=stack.headers).json["Drift"]
    found = {(d["Entity"], d["Name"]): d for d in drift}
    assert set(found) == {("pipeline", "returns_nightly"), ("schedule", "returns_nightly"),
                          ("pipeline", "orders_hourly"), ("schedule", "orders_hourly")}
    edited = found[("pipeline", "orders_hourly")]
    assert edited["Kind"] == "changed" and edited["Actual"]["tags"] == {"owner": "someone"}
    assert edited["Actual"]["notification_list"] == ["stranger@example.com"]
    assert edited["Expected"]["tags"] == declared.tags and edited["Expected"]["notification_list"] == []
    assert found[("pipeline", "returns_nightly")]["Kind"] == "missing"
    assert found[("pipeline", "returns_nightly")]["Expected"]["source_table"] == "raw.sales.returns"
    assert found[("schedule", "returns_nightly")]["Kind"] == "missing"
    retimed = found[("schedule", "orders_hourly")]
    assert retimed["Kind"] == "changed" and retimed["Actual"]["cron"] == "0 0 5 * * ?"
    assert retimed["Expected"]["cron"] == as_declared["orders_hourly_schedule"]

    reconcile = stack.client.post(f"/workflow/sharepack/{pack_id}/reconcile", headers=stack.headers)
    assert reconcile.status_code == 202, reconcile.json
    stack.wait_for(pack_id, lambda s: s["Status"] == "COMPLETED" and "Completed" in (s["ProvisioningStatus"] or ""))

    assert set(pipelines_of(workspace)) == {"returns_nightly", "orders_hourly"}
    assert schedules_of(workspace) == as_declared
    restored = workspace.pipelines.get(pipelines_of(workspace)["orders_hourly"]).spec
    assert restored is not None and restored.tags == declared.tags and not restored.notifications
    again = run_sync(engine, stack)
    assert again.details["workspaces"][stack.emulator.url]["drift"] == 0
    assert stack.client.get(f"/workflow/sharepack/{pack_id}/drift", headers=stack.headers).json["Drift"] == []
