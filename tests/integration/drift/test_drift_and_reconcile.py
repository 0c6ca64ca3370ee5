"""Drift found by the Databricks sync, shown by the drift routes, and put back by reconcile — with the real
provisioning job, the emulator and PostgreSQL (one rolled-back transaction per test)."""

from __future__ import annotations

import uuid

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.drift.sync import DatabricksObjectsSync
from shared.models import SharePack
from shared.models.history import History
from shared.platform.status import SharePackStatus
from shared.provisioning.clients import WorkspaceClients
from shared.queue.messages import ProvisionSharePack
from tests.integration.api.conftest import API_KEY
from tests.integration.preflight.conftest import (  # noqa: F401 (fixtures)
    EXAMPLE_TABLES,
    api,
    app_factory,
    emulated_tenant,
    headers,
    post_file,
    publisher,
    queue,
    sample,
)
from worker.jobs.provision import ProvisioningJob


class Never:
    def should_stop(self) -> bool:
        return False


def remove_table(client: WorkspaceClient, share: str, table: str) -> None:
    """Someone removes a table from a share by hand, behind the service's back."""
    update = SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.REMOVE,
        data_object=SharedDataObject(name=table, data_object_type=SharedDataObjectDataObjectType.TABLE),
    )
    client.shares.update(share, updates=[update])


def share_tables(client: WorkspaceClient, share: str) -> set[str]:
    return {o.name for o in client.shares.get(share, include_shared_data=True).objects or ()}


@pytest.fixture
def job(session_factory: sessionmaker[Session], engine: Engine, clients: WorkspaceClients) -> ProvisioningJob:
    return ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=clients.gateway)


def provision(job: ProvisioningJob, session_factory, share_pack_id: str) -> SharePack:
    job.run(ProvisionSharePack(share_pack_id=uuid.UUID(share_pack_id)), Never())
    with session_factory() as session:
        return History(session, SharePack).get_current(uuid.UUID(share_pack_id))


@pytest.fixture
def provisioned(api, headers, emulator: EmulatorControl, job, session_factory) -> tuple:  # noqa: F811
    emulator.seed_tables(EXAMPLE_TABLES)
    client = api()
    response = post_file(client, "upload", headers, sample())
    assert response.status_code == 202, response.json
    pack_id = response.json["SharePackId"]
    assert provision(job, session_factory, pack_id).share_pack_status == SharePackStatus.COMPLETED
    return client, pack_id


def test_no_drift_after_provisioning(provisioned, headers, sync: DatabricksObjectsSync, emulator):  # noqa: F811
    client, pack_id = provisioned

    outcome = sync.run(emulator.url)

    assert [f for f in outcome.findings if f.share_pack_id is not None] == []
    body = client.get(f"/workflow/sharepack/{pack_id}/drift", headers=headers).json
    assert body["Drift"] == [] and body["LastSync"] is not None
    assert client.get("/workflow/drift", headers=headers).json["SharePacks"] == []


def test_drift_is_reported_and_reconcile_puts_it_back(
    provisioned,
    headers,  # noqa: F811
    sync: DatabricksObjectsSync,
    emulator,
    workspace_client: WorkspaceClient,
    job,
    session_factory,
    publisher,  # noqa: F811
):
    client, pack_id = provisioned
    remove_table(workspace_client, "sales_reporting", "sales.reporting.returns")
    workspace_client.recipients.update(
        "acme_analytics", ip_access_list=IpAccessList(allowed_ip_addresses=["0.0.0.0/0"])
    )
    workspace_client.recipients.create("intruder", AuthenticationType.TOKEN)

    sync.run(emulator.url)

    drift = client.get(f"/workflow/sharepack/{pack_id}/drift", headers=headers).json
    assert drift["SharePackId"] == pack_id
    by_name = {(d["Entity"], d["Name"]): d for d in drift["Drift"]}
    missing = by_name[("data_object", "sales_reporting/sales.reporting.returns")]
    assert missing["Kind"] == "missing" and missing["Actual"] is None and missing["Expected"]["history"] is True
    widened = by_name[("recipient", "acme_analytics")]
    assert widened["Kind"] == "changed"
    assert widened["Actual"]["allowed_ips"] == ["0.0.0.0/0"]
    assert widened["Expected"]["allowed_ips"] == ["198.51.100.7", "203.0.113.0/24"]
    assert len(drift["Drift"]) == 2
    listing = client.get("/workflow/drift", headers=headers).json
    assert [(p["SharePackId"], p["Findings"]) for p in listing["SharePacks"]] == [(pack_id, 2)]
    assert [(u["Entity"], u["Name"], u["Kind"]) for u in listing["Unowned"]] == [
        ("recipient", "intruder", "unexpected")
    ]

    published = len(publisher.notified)
    response = client.post(f"/workflow/sharepack/{pack_id}/reconcile", headers=headers)

    assert response.status_code == 202, response.json
    assert response.json["Status"] == "IN_PROGRESS" and response.json["Strategy"] == "UPDATE"
    assert len(response.json["Drift"]) == 2
    assert len(publisher.notified) == published + 1
    assert client.post(f"/workflow/sharepack/{pack_id}/reconcile", headers=headers).status_code == 409

    assert provision(job, session_factory, pack_id).share_pack_status == SharePackStatus.COMPLETED
    assert "sales.reporting.returns" in share_tables(workspace_client, "sales_reporting")
    ips = workspace_client.recipients.get("acme_analytics").ip_access_list.allowed_ip_addresses
    assert sorted(ips) == ["198.51.100.7", "203.0.113.0/24"]
    sync.run(emulator.url)
    assert client.get(f"/workflow/sharepack/{pack_id}/drift", headers=headers).json["Drift"] == []


def test_drift_and_reconcile_of_an_unknown_pack_are_404(api, headers):  # noqa: F811
    client = api()
    missing = uuid.uuid4()
    assert client.get(f"/workflow/sharepack/{missing}/drift", headers=headers).status_code == 404
    assert client.post(f"/workflow/sharepack/{missing}/reconcile", headers=headers).status_code == 404
    assert client.post("/workflow/sharepack/not-a-uuid/reconcile", headers=headers).status_code == 404


def test_a_caller_who_may_not_see_the_pack_gets_404(
    provisioned,
    headers,  # noqa: F811
    api,  # noqa: F811
    sync: DatabricksObjectsSync,
    emulator,
    workspace_client: WorkspaceClient,
):
    _, pack_id = provisioned
    remove_table(workspace_client, "sales_reporting", "sales.reporting.returns")
    workspace_client.recipients.create("intruder", AuthenticationType.TOKEN)
    sync.run(emulator.url)
    outsider = api(api_keys=f"tester={API_KEY},outsider=outsider-key-0123456789abcdef01234")
    their_headers = {**headers, "Authorization": "Bearer outsider-key-0123456789abcdef01234"}

    assert outsider.get(f"/workflow/sharepack/{pack_id}/drift", headers=their_headers).status_code == 404
    assert outsider.post(f"/workflow/sharepack/{pack_id}/reconcile", headers=their_headers).status_code == 404
    listing = outsider.get("/workflow/drift", headers=their_headers).json
    assert listing["SharePacks"] == [] and listing["Unowned"] == []
