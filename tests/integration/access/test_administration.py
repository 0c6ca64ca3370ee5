"""Administration use cases on the real database: who may change what, and that every change is on record."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.access.administration import (
    ObjectImport,
    ProjectSpec,
    RecipientImport,
    TenantSpec,
    import_objects,
    list_tenants,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.membership import member_of
from shared.access.principals import Principal
from shared.models import AdGroup, AuditEntry, Recipient, Tenant
from shared.models.history import History
from shared.platform.errors import Conflict, Forbidden, InvalidInput
from tests.integration.access.conftest import ADMIN, CONFIGURATOR, OTHER_WORKSPACE, OUTSIDER, WORKSPACE

LEDGER_APPROVERS_ID = "3c9e1f20-0000-4000-8000-00000000c0de"


def audits(session, entity_type: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.entity_type == entity_type)))


def test_only_administrators_register_tenants(session_factory, settings, access_of):
    with pytest.raises(Forbidden, match="Only administrators may register or change tenants"):
        put_tenant(
            session_factory,
            access_of(OUTSIDER),
            settings,
            TenantSpec("Sales", workspaces={"AM": WORKSPACE}, configurator_groups=[], approval_required="never"),
        )


def test_tenant_change_writes_history_and_audit(session_factory, settings, access_of, finance):
    admin = access_of(ADMIN)
    view = put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec(
            "finance",
            workspaces={"AM": OTHER_WORKSPACE},
            configurator_groups=["Finance-Configurators"],
            approval_required="always",
        ),
    )
    assert view.workspaces == {"AM": OTHER_WORKSPACE}  # EMEA was not listed, so it is removed
    assert view.approval_required == "always" and view.version == 2
    with session_factory() as session:
        versions = History(session, Tenant).history(view.tenant_id)
        assert [v.approval_required for v in versions] == ["external", "always"]
        assert [a.action for a in audits(session, "tenant")] == ["CREATED", "UPDATED"]
        assert [t.business_line for t in list_tenants(session, admin)] == ["Finance"]


def test_bad_tenant_input_is_refused_with_a_sentence(session_factory, settings, access_of):
    admin = access_of(ADMIN)
    with pytest.raises(InvalidInput, match="Unknown region"):
        put_tenant(
            session_factory,
            admin,
            settings,
            TenantSpec("X", workspaces={"MARS": WORKSPACE}, configurator_groups=[], approval_required="never"),
        )
    with pytest.raises(InvalidInput, match="not an Azure Databricks workspace"):
        put_tenant(
            session_factory,
            admin,
            settings,
            TenantSpec(
                "X",
                workspaces={"AM": "https://evil.example.com"},
                configurator_groups=[],
                approval_required="never",
            ),
        )
    with pytest.raises(InvalidInput, match="ApprovalRequired"):
        put_tenant(
            session_factory,
            admin,
            settings,
            TenantSpec("X", workspaces={}, configurator_groups=[], approval_required="sometimes"),
        )


def test_synced_group_cannot_be_edited(session_factory, access_of):
    with session_factory.begin() as session:
        History(session, AdGroup).create(created_by="sync", group_name="aad-group", members=[], source="azure_ad")
    with pytest.raises(Conflict, match="synced"):
        put_local_group(session_factory, access_of(ADMIN), "aad-group", ["a@example.com"])


def test_tenant_configurators_create_projects_and_outsiders_cannot(session_factory, access_of, finance):
    project = put_project(
        session_factory,
        access_of(CONFIGURATOR),
        ProjectSpec("Finance", "Ledger", approver_groups=None, configurator_groups=[]),
    )
    assert (project.project_name, project.approver) == ("Ledger", [])  # approvers are the administrators' to set
    approved = put_project(
        session_factory,
        access_of(ADMIN),
        ProjectSpec("Finance", "Ledger", approver_groups=[LEDGER_APPROVERS_ID], configurator_groups=[]),
    )
    assert approved.approver == [LEDGER_APPROVERS_ID]
    with pytest.raises(Forbidden, match="configurators of business line 'Finance'"):
        put_project(
            session_factory,
            access_of(OUTSIDER),
            ProjectSpec("Finance", "Ledger2", approver_groups=[], configurator_groups=[]),
        )


def test_import_claims_an_object_once(session_factory, access_of, finance):
    admin = access_of(ADMIN)
    result = import_objects(
        session_factory,
        admin,
        ObjectImport(
            business_line="Finance",
            project_name="Partner analytics",
            workspace_url=WORKSPACE,
            recipients=[RecipientImport("Legacy_Partner", "D2D")],
            shares=["old_share"],
        ),
    )
    assert result.recipients == ["legacy_partner"] and result.shares == ["old_share"]
    with pytest.raises(Conflict, match="already owned"):
        import_objects(
            session_factory,
            admin,
            ObjectImport(
                business_line="Finance",
                project_name="Partner analytics",
                workspace_url=WORKSPACE,
                recipients=[RecipientImport("legacy_partner", "D2D")],
                shares=[],
            ),
        )
    with session_factory() as session:
        row = History(session, Recipient).find_current(workspace_url=WORKSPACE, recipient_name="legacy_partner")[0]
        assert row.project_id == result.project_id
        assert [a.action for a in audits(session, "project") if a.action == "IMPORTED"] == ["IMPORTED"]
    with pytest.raises(Forbidden):
        import_objects(
            session_factory,
            access_of(CONFIGURATOR),
            ObjectImport(
                business_line="Finance",
                project_name="Partner analytics",
                workspace_url=WORKSPACE,
                recipients=[],
                shares=["x"],
            ),
        )


def test_entra_principals_are_members_by_object_id_and_token_groups_never_by_name(session_factory, access_of):
    admin = access_of(ADMIN)
    put_local_group(session_factory, admin, "by-name", ["ann@example.com"])
    put_local_group(session_factory, admin, "by-oid", ["0000AAAA-0000-0000-0000-000000000001"])
    with session_factory.begin() as session:
        History(session, AdGroup).create(
            created_by="sync", group_name="synced", ad_object_id="g-object-id", members=[], source="azure_ad"
        )
    ann = Principal.from_entra(
        tenant_id="t1", object_id="0000aaaa-0000-0000-0000-000000000001", identity="ann@example.com",
        roles=frozenset({"SharePack.ReadWrite"}), groups=frozenset({"g-object-id"}), admins=frozenset(),
    )
    with session_factory() as session:
        groups = member_of(session, ann)
    assert {"by-oid", "g-object-id"} <= groups and "by-name" not in groups
    assert "synced" not in groups  # a directory group counts by its id: its display name stands for nothing


def test_a_directory_group_is_mapped_by_object_id_never_by_display_name(session_factory, access_of, finance):
    with session_factory.begin() as session:  # an Entra group the sync brought in, shown as "ledger approvers"
        History(session, AdGroup).create(created_by="sync", group_name="Ledger Approvers",
                                         ad_object_id=LEDGER_APPROVERS_ID, members=[], source="azure_ad")
    with pytest.raises(InvalidInput, match="'ledger approvers' is neither an Entra group's object id nor a local"):
        put_project(
            session_factory,
            access_of(ADMIN),
            ProjectSpec("Finance", "Ledger", approver_groups=["Ledger Approvers"], configurator_groups=[]),
        )
    project = put_project(
        session_factory,
        access_of(ADMIN),
        ProjectSpec(
            "Finance",
            "Ledger",
            approver_groups=[LEDGER_APPROVERS_ID.upper()],
            configurator_groups=["finance-approvers"],
        ),
    )
    assert project.approver == [LEDGER_APPROVERS_ID] and project.configurator == ["finance-approvers"]


def test_a_tenant_shows_its_directory_groups_display_names_beside_their_ids(session_factory, access_of, settings):
    with session_factory.begin() as session:
        History(session, AdGroup).create(created_by="sync", group_name="Ledger Approvers",
                                         ad_object_id=LEDGER_APPROVERS_ID, members=[], source="azure_ad")
    view = put_tenant(
        session_factory,
        access_of(ADMIN),
        settings,
        TenantSpec(
            "Ledger",
            workspaces={"EMEA": WORKSPACE},
            configurator_groups=[LEDGER_APPROVERS_ID],
            approval_required="never",
        ),
    )
    assert view.configurator_groups == [LEDGER_APPROVERS_ID]
    assert view.group_names == {LEDGER_APPROVERS_ID: "Ledger Approvers"}
