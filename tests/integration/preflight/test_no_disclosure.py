"""No disclosure across projects: a dry run or an upload's pre-flight never describes another project's object.

Finance's project `Partner analytics` owns the recipient `acme_analytics` (an IP list, a comment) and the share
`sales_reporting` (its table, its grant). The attacker is the configurator of Finance's other project, `Rival`,
with their own API key: they ask for plans naming the victim's objects, hoping the plan lists the grantees,
objects and IP list, or a conflict echoes "allowed IPs [...] instead of [...]".
"""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType, IpAccessList, SharedDataObjectUpdate
from sqlalchemy import func, select

from dev.emulator.control import EmulatorControl
from shared.models import AdGroup, AuditEntry, Project, Recipient, Share, SharePack, Tenant
from shared.models.history import History
from shared.platform.status import SharePackStatus
from shared.share_pack_file import parse_share_pack
from shared.use_cases.lifecycle import REVISED
from tests.integration.api.conftest import API_KEY
from tests.integration.preflight.conftest import EXAMPLE_TABLES, post_file

RIVAL_KEY = "rival-secret-key-0123456789abcdef0123"
SECRETS = ("10.1.2.3", "victim secret comment", "sales.reporting.orders")

RIVAL_PACK = """
metadata:
  requestor: rival@example.com
  project_name: Rival
  business_line: Finance
  strategy: {strategy}
recipient:
- name: acme_analytics
  type: D2O
  email: thief@evil.example
  allowed_ips: [192.0.2.1]
share:
- name: sales_reporting
  recipients: [acme_analytics]
  data_objects: [sales.reporting.customers]
"""


@pytest.fixture
def rival(api, session_factory, emulator: EmulatorControl, workspace_client: WorkspaceClient):
    """The victim's objects in the workspace and on record; a client for the rival project's configurator."""
    emulator.seed_tables(EXAMPLE_TABLES)
    workspace_client.recipients.create(
        "acme_analytics", AuthenticationType.TOKEN, comment="victim secret comment",
        ip_access_list=IpAccessList(allowed_ip_addresses=["10.1.2.3"]),
    )
    workspace_client.shares.create("sales_reporting")
    workspace_client.shares.update("sales_reporting", updates=[SharedDataObjectUpdate.from_dict(
        {"action": "ADD", "data_object": {"name": "sales.reporting.orders", "data_object_type": "TABLE"}})])
    with session_factory.begin() as session:
        tenant = History(session, Tenant).find_current(business_line_name="Finance")[0]
        victim = History(session, Project).create(created_by="t", project_name="Partner analytics",
                                                  tenant_id=tenant.tenant_id)
        History(session, AdGroup).create(created_by="t", group_name="rival-conf", members=["rival@example.com"],
                                         source="local")
        History(session, Project).create(created_by="t", project_name="Rival", tenant_id=tenant.tenant_id,
                                         configurator=["rival-conf"])
        History(session, Recipient).create(created_by="worker", workspace_url=emulator.url, recipient_type="D2O",
                                           recipient_name="acme_analytics", project_id=victim.project_id)
        History(session, Share).create(created_by="worker", workspace_url=emulator.url,
                                       share_name="sales_reporting", project_id=victim.project_id)
    emulator.clear_requests()
    client = api(api_keys=f"tester={API_KEY},rival@example.com={RIVAL_KEY}")
    return client, {"Authorization": f"Bearer {RIVAL_KEY}", "X-Workspace-URL": emulator.url}


def text_of(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("strategy", ["NEW", "UPDATE", "DELETE"])
def test_a_dry_run_naming_another_projects_objects_says_only_that_the_names_are_taken(
    rival, strategy, emulator: EmulatorControl
):
    client, headers = rival

    response = post_file(client, "validate", headers, RIVAL_PACK.format(strategy=strategy).encode())

    assert response.status_code == 200, response.json
    body = response.json
    assert body["Valid"] is False
    messages = [e["message"] for e in body["ValidationErrors"]]
    assert "Conflict with the workspace: recipient acme_analytics exists and is owned by another project" in messages
    assert "Conflict with the workspace: share sales_reporting exists and is owned by another project" in messages
    for secret in SECRETS:
        assert secret not in text_of(response)
    steps = body["Plan"]["steps"]
    assert all(change["name"] not in ("acme_analytics", "sales_reporting") and change.get("share") !=
               "sales_reporting" for changes in steps.values() for change in changes)
    assert {r["method"] for r in emulator.requests()} == {"GET"}


def test_an_upload_whose_pre_flight_meets_another_projects_recipient_is_refused_without_its_definition(
    rival, session_factory, emulator: EmulatorControl
):
    client, headers = rival

    response = post_file(client, "upload", headers, RIVAL_PACK.format(strategy="NEW").encode())

    assert response.status_code == 400, response.json
    assert "recipient acme_analytics exists and is owned by another project" in text_of(response)
    for secret in (*SECRETS, "allowed IPs"):
        assert secret not in text_of(response)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SharePack)) == 0
    assert {r["method"] for r in emulator.requests()} == {"GET"}


def test_an_upload_into_another_project_is_refused_before_the_workspace_is_read_and_recorded(
    rival, session_factory, emulator: EmulatorControl
):
    client, headers = rival
    into_victims = RIVAL_PACK.format(strategy="NEW").replace("project_name: Rival", "project_name: Partner analytics")

    response = post_file(client, "upload", headers, into_victims.encode())

    assert response.status_code == 403, response.json
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SharePack)) == 0
        rejected = session.scalars(select(AuditEntry).where(AuditEntry.action == "REJECTED")).all()
    assert [entry.performed_by for entry in rejected] == ["rival@example.com"]
    assert emulator.requests() == []


def test_a_rollback_preview_neither_removes_nor_describes_what_a_revision_named_of_another_project(
    rival, session_factory, emulator: EmulatorControl
):
    client, headers = rival
    own = RIVAL_PACK.format(strategy="NEW").replace("- name: acme_analytics", "- name: rival_partner").replace(
        "- name: sales_reporting\n  recipients: [acme_analytics]", "- name: rival_share\n  recipients: [rival_partner]")
    first = post_file(client, "upload", headers, own.encode())
    assert first.status_code == 202, first.json
    pack_id = first.json["SharePackId"]
    # A revision naming the victim's share and recipient (the worker refused it); the rollback to v1 removes
    # every name v2 declared that v1 did not.
    hostile = parse_share_pack(RIVAL_PACK.format(strategy="UPDATE").encode(), filename="v2.yaml").spec
    assert hostile is not None
    with session_factory.begin() as session:
        History(session, SharePack).change(pack_id, changed_by="rival@example.com", change_reason=REVISED,
                                           share_pack_status=SharePackStatus.FAILED, config=hostile.to_dict(),
                                           strategy="UPDATE")

    response = client.post(f"/workflow/sharepack/{pack_id}/rollback", json={"ToVersion": 1, "DryRun": True},
                           headers=headers)

    assert response.status_code == 200, response.json
    for secret in SECRETS:
        assert secret not in text_of(response)
    changes = [c for changes in response.json["Plan"]["steps"].values() for c in changes]
    assert changes and all(c["name"] not in ("acme_analytics", "sales_reporting") and c.get("share") !=
                           "sales_reporting" for c in changes)
    assert {r["method"] for r in emulator.requests()} == {"GET"}
