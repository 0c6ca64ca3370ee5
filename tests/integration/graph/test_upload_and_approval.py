"""The AD validator at upload and AD membership in approval rights, through the real use cases."""

from __future__ import annotations

import pytest

from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.directory import find_project, find_tenant
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.graph.ad_sync import AdSync
from shared.graph.validator import AdValidator
from shared.models import AuditEntry
from shared.platform.settings import Settings
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.submit import InvalidSharePack, UploadRules
from shared.use_cases.transitions import Asker, Workflow
from tests.integration.access.conftest import ADMIN, APPROVER, CONFIGURATOR, WORKSPACE, sample

APPROVERS_ID = "5b0e7f3a-0000-4000-8000-0000000000a1"  # the Entra group finance-approvers' object id


@pytest.fixture
def finance(session_factory) -> None:
    with session_factory() as session:
        admin = Access.load(session, ADMIN)
    put_local_group(session_factory, admin, "finance-configurators", [CONFIGURATOR.identity])
    put_local_group(session_factory, admin, "finance-approvers", [APPROVER.identity])
    put_tenant(
        session_factory,
        admin,
        Settings(allowed_workspace_urls=(WORKSPACE,)),
        TenantSpec(
            "Finance",
            workspaces={"EMEA": WORKSPACE},
            configurator_groups=["finance-configurators"],
            approval_required="never",
        ),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Partner analytics", approver_groups=["finance-approvers"], configurator_groups=[]),
    )


@pytest.fixture
def directory(graph):
    graph.seed(users=[{"userPrincipalName": CONFIGURATOR.identity}, {"userPrincipalName": APPROVER.identity}],
               groups=[{"displayName": "finance-configurators", "members": [CONFIGURATOR.identity]},
                       {"id": APPROVERS_ID, "displayName": "finance-approvers", "members": [APPROVER.identity]}])
    return graph


def upload(session_factory, principal: Principal, validator: AdValidator):
    workflow = Workflow(session_factory, ViaOutbox("graph-tests", lambda _: None),
                        rules=UploadRules(max_bytes=1_000_000, check_directory=validator.check))
    return workflow.submit(Asker(WORKSPACE, principal), sample(), "pack.yaml")


def test_an_upload_by_a_requestor_disabled_in_azure_ad_is_refused_with_that_sentence(
        session_factory, session, finance, directory, graph_client):
    directory.disable_user(CONFIGURATOR.identity)
    with pytest.raises(InvalidSharePack) as refused:
        upload(session_factory, CONFIGURATOR, AdValidator(graph_client))
    [error] = refused.value.errors
    assert (error.path, error.message) == ("metadata.requestor", "jane.doe@example.com is disabled in Azure AD")
    rejection = session.query(AuditEntry).filter(AuditEntry.action == "REJECTED").one()
    assert "disabled in Azure AD" in str(rejection.new_values)


def test_an_active_requestor_uploads_without_warnings(session_factory, finance, directory, graph_client):
    submitted = upload(session_factory, CONFIGURATOR, AdValidator(graph_client))
    assert submitted.warnings == []


def test_without_graph_the_upload_succeeds_and_says_what_was_not_checked(session_factory, finance):
    submitted = upload(session_factory, CONFIGURATOR, AdValidator(None))
    assert submitted.status
    assert [w.path for w in submitted.warnings] == ["metadata.requestor"]  # the groups are local ones
    assert "not configured" in submitted.warnings[0].message


def test_disabling_an_approver_in_azure_ad_removes_their_approval_right_after_the_next_sync(
        session_factory, finance, directory, graph_client):
    sync = AdSync(session_factory, graph_client)
    with session_factory() as session:
        admin = Access.load(session, ADMIN)
    # The administrator maps the project's approvers to the Entra group, by object id.
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Partner analytics", approver_groups=[APPROVERS_ID], configurator_groups=[]),
    )

    def is_approver() -> bool:
        with session_factory() as session:
            project = find_project(session, find_tenant(session, "Finance").tenant_id, "Partner analytics")
            return Access.load(session, APPROVER).is_project_approver(project)

    sync.sync_users()
    sync.sync_groups()
    assert is_approver()
    directory.disable_user(APPROVER.identity)
    assert is_approver()  # nothing changes until the sync runs
    sync.sync_users()
    sync.sync_groups()
    assert not is_approver()
