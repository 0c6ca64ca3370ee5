"""Ownership on the emulator over HTTP: a pack changes, deletes or adopts only its own project's objects.

Two projects of one tenant share a workspace. What one project created, the other can neither update,
delete nor "adopt" by declaring it identically (the hijack that would send an activation link to a new
e-mail), and the refusal names the object without echoing its definition.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from databricks.sdk import WorkspaceClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dev.emulator.control import EmulatorControl
from shared.access.administration import (
    ObjectImport,
    import_objects,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.models import Notification, Project, Recipient, Share, SharePack, Tenant, TenantRegion
from shared.models.history import History
from shared.platform.status import SharePackStatus
from shared.provisioning.gateway import DatabricksGateway
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import SharePackSpec, Strategy
from shared.use_cases.lifecycle import REVISED
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.transitions import Asker, Workflow
from tests.support.builders import d2o, pack, pipeline, share
from worker.jobs.provision import ProvisioningJob

TABLES = ["sales.reporting.orders", "sales.reporting.customers"]
MUTATING = ("POST", "PATCH", "PUT", "DELETE")


class Never:
    def should_stop(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def tables(emulator: EmulatorControl) -> None:
    emulator.seed_tables(TABLES)


@pytest.fixture
def projects(session_factory: sessionmaker[Session], emulator: EmulatorControl) -> dict[str, uuid.UUID]:
    """Tenant `sales` on the emulator's workspace, with projects `reporting` and `rival`."""
    with session_factory.begin() as session:
        tenant = History(session, Tenant).create(created_by="test", business_line_name="sales")
        History(session, TenantRegion).create(
            created_by="test", tenant_id=tenant.tenant_id, region="EMEA", workspace_url=emulator.url
        )
        return {
            name: History(session, Project).create(
                created_by="test", project_name=name, tenant_id=tenant.tenant_id
            ).project_id
            for name in ("reporting", "rival")
        } | {"tenant": tenant.tenant_id}


@pytest.fixture
def job(session_factory, engine, gateway: DatabricksGateway) -> ProvisioningJob:
    return ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)


def run(job, session_factory, projects, project: str, spec: SharePackSpec, workspace: str) -> SharePack:
    row = store(session_factory, projects, project, spec, workspace)
    return provision(job, session_factory, row.share_pack_id)


def provision(job, session_factory, share_pack_id: uuid.UUID) -> SharePack:
    job.run(ProvisionSharePack(share_pack_id=share_pack_id, request_id=None), Never())
    with session_factory() as session:
        return History(session, SharePack).get_current(share_pack_id)


def store(session_factory, projects, project: str, spec: SharePackSpec, workspace: str) -> SharePack:
    with session_factory.begin() as session:
        row = History(session, SharePack).create(
            created_by="test",
            share_pack_name=f"pack-{uuid.uuid4().hex[:6]}",
            share_pack_status=SharePackStatus.IN_PROGRESS,
            requested_by=spec.metadata.requestor,
            strategy=spec.metadata.strategy.value,
            config=spec.to_dict(),
            file_format="yaml",
            workspace_url=workspace,
            tenant_id=projects["tenant"],
            project_id=projects[project],
            project_name=project,
            created_at=datetime.now(UTC),
            change_reason="uploaded",
        )
    return row


def first_pack() -> SharePackSpec:
    return pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["203.0.113.0/24"], comment="ACME secret comment")],
        shares=[share("sales", TABLES[:1], recipients=["acme"], comment="Sales")],
    )


def mutations(emulator: EmulatorControl) -> list[dict]:
    return [r for r in emulator.requests() if r["method"] in MUTATING]


def test_created_objects_are_owned_by_the_packs_project(job, session_factory, projects, emulator):
    assert run(job, session_factory, projects, "reporting", first_pack(), emulator.url).share_pack_status == "COMPLETED"
    with session_factory() as session:
        assert {r.project_id for r in History(session, Recipient).find_current(workspace_url=emulator.url)} == {
            projects["reporting"]
        }
        assert History(session, Share).find_current(workspace_url=emulator.url)[0].project_id == projects["reporting"]
    # The owning project may change its own share.
    update = pack(Strategy.UPDATE, shares=[share("sales", TABLES, recipients=["acme"])])
    assert run(job, session_factory, projects, "reporting", update, emulator.url).share_pack_status == "COMPLETED"


@pytest.mark.parametrize("strategy", [Strategy.UPDATE, Strategy.DELETE])
def test_another_project_cannot_update_or_delete_the_share(
    job, session_factory, projects, emulator, workspace_client: WorkspaceClient, strategy
):
    run(job, session_factory, projects, "reporting", first_pack(), emulator.url)
    emulator.clear_requests()
    hostile = pack(strategy, shares=[share("sales", TABLES, recipients=["acme"])])

    result = run(job, session_factory, projects, "rival", hostile, emulator.url)

    assert result.share_pack_status == "FAILED"
    assert result.error_message.endswith("share sales exists and is owned by another project")
    assert mutations(emulator) == []  # nothing changed in the workspace
    objects = workspace_client.shares.get("sales", include_shared_data=True).objects or []
    assert [o.name for o in objects] == TABLES[:1]


def test_adoption_hijack_is_refused_without_a_notification_or_the_definition(job, session_factory, projects, emulator):
    run(job, session_factory, projects, "reporting", first_pack(), emulator.url)
    emulator.clear_requests()
    hijack = first_pack()
    hijack = dataclasses.replace(
        hijack, recipients=(dataclasses.replace(hijack.recipients[0], email="thief@evil.example"),)
    )

    result = run(job, session_factory, projects, "rival", hijack, emulator.url)

    assert result.share_pack_status == "FAILED"
    assert "recipient acme exists and is owned by another project" in result.error_message
    for secret in ("203.0.113.0", "ACME secret comment", "acme@example.com"):
        assert secret not in result.error_message
    with session_factory() as session:
        assert History(session, SharePack).get_current(result.share_pack_id).plan is None  # no plan to read back
        emails = session.scalars(select(Notification.recipient_email)).all()
        assert "thief@evil.example" not in emails
    assert mutations(emulator) == []


def test_out_of_band_objects_are_conflicts_until_an_administrator_imports_them(
    job, session_factory, projects, emulator, workspace_client: WorkspaceClient
):
    workspace_client.shares.create(name="sales", comment="Sales")
    result = run(job, session_factory, projects, "reporting", first_pack(), emulator.url)
    assert result.share_pack_status == "FAILED"
    assert "share sales exists and is created outside this service" in result.error_message

    admin = Access(Principal.from_api_key("root", admins=frozenset({"root"})), frozenset())
    import_objects(
        session_factory,
        admin,
        ObjectImport(
            business_line="sales",
            project_name="reporting",
            workspace_url=emulator.url,
            recipients=[],
            shares=["sales"],
        ),
    )
    assert run(job, session_factory, projects, "reporting", first_pack(), emulator.url).share_pack_status == "COMPLETED"


def test_the_worker_refuses_a_pack_that_needs_approval_and_lacks_it(job, session_factory, projects, emulator):
    with session_factory.begin() as session:
        History(session, Tenant).change(
            projects["tenant"], changed_by="test", change_reason="rule tightened", approval_required="always"
        )
    emulator.clear_requests()

    result = run(job, session_factory, projects, "reporting", first_pack(), emulator.url)

    assert result.share_pack_status == "FAILED"
    assert result.error_message.startswith("The share pack needs approval")
    assert mutations(emulator) == []


# -- pipelines, drift and rollbacks: the insider's other ways round ------------------------------------------

ORDERS = TABLES[0]


def pipelined_pack() -> SharePackSpec:
    nightly = pipeline("orders_nightly", ORDERS, cron="0 30 2 * * ?", emails=["ops@example.com"])
    return dataclasses.replace(first_pack(), pipelines=(nightly,))


def test_another_projects_pipeline_can_be_neither_deleted_nor_repointed(job, session_factory, projects, emulator):
    assert run(job, session_factory, projects, "reporting", pipelined_pack(), emulator.url).share_pack_status == (
        "COMPLETED")
    before = emulator.lakeflow_state()
    assert [p["name"] for p in before["pipelines"]] == ["orders_nightly"] and len(before["jobs"]) == 1
    emulator.clear_requests()
    # The rival configurator names the pipeline in a DELETE, then "adopts" it into a share of their own with
    # their own schedule and notification list.
    delete = pack(Strategy.DELETE, pipelines=[pipeline("orders_nightly", ORDERS)])
    repoint = pack(
        Strategy.UPDATE,
        shares=[share("rival_sales", [ORDERS])],
        pipelines=[pipeline("orders_nightly", ORDERS, cron="0 0 * * * ?", emails=["thief@evil.example"])],
    )
    for hostile in (delete, repoint):
        result = run(job, session_factory, projects, "rival", hostile, emulator.url)

        assert result.share_pack_status == "FAILED"
        assert result.error_message.endswith("pipeline orders_nightly exists and is owned by another project")
    assert mutations(emulator) == []
    assert emulator.lakeflow_state() == before


def test_a_new_pack_cannot_take_over_names_another_project_lost_to_drift(
    job, session_factory, projects, emulator, workspace_client: WorkspaceClient
):
    run(job, session_factory, projects, "reporting", first_pack(), emulator.url)
    workspace_client.shares.delete("sales")  # deleted by hand: the database still records them as reporting's
    workspace_client.recipients.delete("acme")
    emulator.clear_requests()

    result = run(job, session_factory, projects, "rival", first_pack(), emulator.url)

    assert result.share_pack_status == "FAILED"
    assert result.error_message == (
        "The share pack conflicts with objects its project does not own: "
        "recipient acme is a name taken by another project; share sales is a name taken by another project"
    )
    assert mutations(emulator) == []
    with session_factory() as session:
        owners = {r.project_id for r in History(session, Recipient).find_current(workspace_url=emulator.url)}
    assert owners == {projects["reporting"]}


def test_a_rollback_does_not_remove_what_a_failed_revision_named_of_another_project(
    job, session_factory, projects, emulator, workspace_client: WorkspaceClient
):
    run(job, session_factory, projects, "reporting", first_pack(), emulator.url)  # reporting's sales and acme
    rivals = pack(Strategy.NEW, recipients=[d2o("globex")], shares=[share("rival_sales", TABLES[1:])])
    rival = run(job, session_factory, projects, "rival", rivals, emulator.url)
    assert rival.share_pack_status == "COMPLETED"
    # v2: a revision that names reporting's share and recipient; the worker refuses it...
    revision = pack(Strategy.UPDATE, recipients=[d2o("globex"), d2o("acme")],
                    shares=[share("rival_sales", TABLES[1:]), share("sales", TABLES[:1], recipients=["acme"])])
    with session_factory.begin() as session:
        History(session, SharePack).change(
            rival.share_pack_id, changed_by="rival@example.com", change_reason=REVISED,
            share_pack_status=SharePackStatus.IN_PROGRESS, config=revision.to_dict(), strategy="UPDATE",
        )
    assert provision(job, session_factory, rival.share_pack_id).share_pack_status == "FAILED"
    emulator.clear_requests()

    # ...then "roll back to v1", whose removals are everything v2 declared that v1 did not: sales and acme.
    workflow = Workflow(session_factory, ViaOutbox("ownership-tests", lambda _: None))
    workflow.rollback(Asker(emulator.url, tool="rival@example.com"), rival.share_pack_id, 1)
    result = provision(job, session_factory, rival.share_pack_id)

    assert result.share_pack_status == "COMPLETED"
    assert "share sales is a name taken by another project; the rollback leaves it as it is" in (
        result.provisioning_status)
    assert [m for m in mutations(emulator) if "acme" in m["path"] or "/sales" in m["path"]] == []
    assert workspace_client.shares.get("sales").name == "sales"
    assert workspace_client.recipients.get("acme").name == "acme"
    with session_factory() as session:  # and the database still records them, as reporting's
        assert History(session, Share).find_current(workspace_url=emulator.url, share_name="sales")[0].project_id == (
            projects["reporting"])
        assert History(session, Recipient).find_current(workspace_url=emulator.url, recipient_name="acme")[
            0].project_id == projects["reporting"]
