"""The Databricks sync: recipients and shares into `databricks_objects` with SCD2 history, one `sync_jobs` row
per run, pagination and Retry-After honoured."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from sqlalchemy import select

from dev.emulator.control import EmulatorControl
from shared.drift.sync import DatabricksObjectsSync
from shared.models import DatabricksObject, SyncJob
from shared.platform.status import SyncStatus

GLOBEX = "azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def build_workspace(client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders", "sales.reporting.returns"])
    client.recipients.create(
        "acme", AuthenticationType.TOKEN, ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24"])
    )
    client.recipients.create("globex", AuthenticationType.DATABRICKS, data_recipient_global_metastore_id=GLOBEX)
    client.shares.create("sales", comment="Sales")
    client.shares.update(
        "sales",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(name=t, data_object_type=SharedDataObjectDataObjectType.TABLE),
            )
            for t in ("sales.reporting.orders", "sales.reporting.returns")
        ],
    )
    client.shares.update_permissions("sales", changes=[PermissionsChange(principal="acme", add=["SELECT"])])


def versions(session_factory, workspace: str) -> list[DatabricksObject]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(DatabricksObject)
                .where(DatabricksObject.workspace_url == workspace)
                .order_by(DatabricksObject.object_type, DatabricksObject.full_name, DatabricksObject.version)
            )
        )


def current(session_factory, workspace: str) -> dict[tuple[str, str], DatabricksObject]:
    return {(v.object_type, v.full_name): v for v in versions(session_factory, workspace) if v.is_current}


def test_recipients_and_shares_are_recorded_with_their_details(
    sync: DatabricksObjectsSync, workspace_client, emulator, workspace, session_factory
):
    build_workspace(workspace_client, emulator)

    outcome = sync.run(workspace)

    assert outcome.status is SyncStatus.COMPLETED and outcome.objects == 3 and outcome.created == 3
    rows = current(session_factory, workspace)
    acme = rows[("RECIPIENT", "acme")].properties
    assert acme["allowed_ips"] == ["203.0.113.0/24"] and acme["expiration_time"]
    assert rows[("RECIPIENT", "globex")].properties["data_recipient_global_metastore_id"] == GLOBEX
    sales = rows[("SHARE", "sales")]
    assert [o["name"] for o in sales.properties["objects"]] == ["sales.reporting.orders", "sales.reporting.returns"]
    assert sales.properties["grantees"] == ["acme"] and sales.owner
    with session_factory() as session:
        job = session.get_one(SyncJob, outcome.sync_job_id)
        assert job.sync_type == "DATABRICKS_OBJECTS" and job.status == "COMPLETED"
        assert (job.records_processed, job.records_created) == (3, 3) and job.completed_at is not None


def test_only_real_changes_write_a_version(
    sync: DatabricksObjectsSync, workspace_client, emulator, workspace, session_factory
):
    build_workspace(workspace_client, emulator)
    sync.run(workspace)
    before = len(versions(session_factory, workspace))

    again = sync.run(workspace)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert len(versions(session_factory, workspace)) == before

    workspace_client.recipients.update(
        "acme", ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24", "0.0.0.0/0"])
    )
    workspace_client.shares.delete("sales")
    changed = sync.run(workspace)

    assert (changed.created, changed.updated, changed.deleted) == (0, 1, 1)
    rows = current(session_factory, workspace)
    assert rows[("RECIPIENT", "acme")].version == 2
    assert rows[("RECIPIENT", "acme")].properties["allowed_ips"] == ["0.0.0.0/0", "203.0.113.0/24"]
    assert rows[("SHARE", "sales")].is_deleted
    assert rows[("RECIPIENT", "globex")].version == 1


def test_lists_are_read_page_by_page_and_throttling_is_waited_out(
    sync: DatabricksObjectsSync, workspace_client, emulator, workspace, session_factory
):
    for i in range(12):
        workspace_client.shares.create(f"s{i:02d}")
    emulator.configure(page_size=5)
    emulator.inject_fault(
        path_regex=r"/shares/s03$", method="GET", status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after=1
    )
    emulator.clear_requests()

    outcome = sync.run(workspace)

    assert outcome.status is SyncStatus.COMPLETED and outcome.objects == 12
    share_lists = [r for r in emulator.requests(method="GET") if r["path"].endswith("/shares")]
    assert len(share_lists) >= 3  # 12 shares at 5 per page
    assert any(r["status"] == 429 for r in emulator.requests(path_contains="/shares/s03"))


def test_an_unreadable_workspace_fails_the_run_with_a_record(
    sync: DatabricksObjectsSync, emulator, workspace, session_factory
):
    emulator.inject_fault(path_regex="/recipients", status=403, error_code="PERMISSION_DENIED", times=None)

    outcome = sync.run(workspace)

    assert outcome.status is SyncStatus.FAILED and outcome.error
    with session_factory() as session:
        job = session.get_one(SyncJob, outcome.sync_job_id)
        assert job.status == "FAILED" and job.error_message
