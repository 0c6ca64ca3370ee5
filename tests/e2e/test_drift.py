"""Done means (issue 12): a table removed from a share behind the service's back is reported as drift by the
next Databricks sync, and reconcile puts it back — API, Azurite, a worker process and the emulator."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from sqlalchemy import Engine, select

from emulator.auth import DEFAULT_TOKEN
from shared.credentials import DatabricksCredentials
from shared.db import make_session_factory
from shared.drift.sync import DatabricksObjectsSync
from shared.models import SyncJob
from shared.provisioning.clients import WorkspaceClients
from sync.jobs.base import JobContext
from sync.jobs.databricks_objects import DatabricksObjectsJob
from sync.runner import SyncRunner
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "sample_sharepack.yaml").read_text()
SHARE = "sales_reporting"
TABLE = "sales.reporting.returns"


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
