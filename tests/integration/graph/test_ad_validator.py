"""The AD validator: synced tables first, Graph for the unknown within a budget, warnings when it cannot tell."""

from __future__ import annotations

import dataclasses

import pytest

from shared.graph.validator import AdValidator
from shared.models import AdGroup, Project, Tenant, User
from shared.models.history import History
from shared.share_pack_file.issues import Findings
from shared.share_pack_file.model import (
    Metadata,
    PipelineSpec,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    Strategy,
)
from tests.support.graph_emulator import make_graph_client


def pack(requestor: str = "alice@example.com", recipients: tuple[RecipientSpec, ...] = ()) -> SharePackSpec:
    metadata = Metadata(requestor=requestor, project_name="Ledger", business_line="Finance", strategy=Strategy.NEW)
    return SharePackSpec(metadata=metadata, recipients=recipients, shares=())


WORKSPACE = "https://adb-1.azuredatabricks.net"


@pytest.fixture
def tenant(session):
    row = History(session, Tenant).create(created_by="t", business_line_name="Finance",
                                          allowed_email_domains=["example.com"])
    History(session, Project).create(created_by="t", project_name="Ledger", tenant_id=row.tenant_id,
                                     approver=["Finance Approvers"], configurator=["Finance Configurators"])
    session.flush()
    return row


def check(session, validator: AdValidator, spec: SharePackSpec) -> Findings:
    findings = Findings()
    validator.check(session, spec, findings, WORKSPACE)
    return findings


def test_the_check_answers_the_tenant_and_project_it_read_for_the_access_rules(session, tenant):
    """The upload's access rules take the tenant and project from the check instead of reading them again."""
    target = AdValidator(None).check(session, pack(), Findings(), WORKSPACE)

    assert target is not None and target.tenant.tenant_id == tenant.tenant_id
    assert target.project is not None and target.project.project_name == "Ledger"
    assert not target.workspace_is_tenants  # the workspace is not one of Finance's
    unregistered = dataclasses.replace(pack(), metadata=dataclasses.replace(pack().metadata, business_line="Nobody"))
    assert AdValidator(None).check(session, unregistered, Findings(), WORKSPACE) is None


def test_a_disabled_requestor_known_to_the_tables_is_refused_without_asking_graph(session, graph, graph_client):
    History(session, User).create(created_by="sync", email="alice@example.com", is_active=False, ad_object_id="x")
    graph.clear_requests()
    findings = check(session, AdValidator(graph_client), pack())
    assert [(e.path, e.message) for e in findings.errors] == [
        ("metadata.requestor", "alice@example.com is disabled in Azure AD")]
    assert graph.requests() == []


def test_an_unknown_requestor_is_looked_up_in_graph(session, graph, graph_client):
    graph.seed(users=[{"userPrincipalName": "alice@example.com", "mail": "alice@example.com",
                       "accountEnabled": False}])
    findings = check(session, AdValidator(graph_client), pack())
    assert [e.message for e in findings.errors] == ["alice@example.com is disabled in Azure AD"]
    findings = check(session, AdValidator(graph_client), pack("nobody@example.com"))
    assert [e.message for e in findings.errors] == ["nobody@example.com does not exist in Azure AD"]


def test_an_active_requestor_passes(session, graph, graph_client):
    graph.seed(users=[{"userPrincipalName": "alice@example.com", "mail": "alice@example.com"}])
    findings = check(session, AdValidator(graph_client), pack())
    assert (findings.errors, findings.warnings) == ([], [])


def test_project_groups_must_exist(session, graph, graph_client, tenant):
    graph.seed(users=[{"userPrincipalName": "alice@example.com"}], groups=[{"displayName": "Finance Approvers"}])
    findings = check(session, AdValidator(graph_client), pack())
    assert [(e.path, e.message) for e in findings.errors] == [
        ("metadata.project_name", "Configurator group 'Finance Configurators' of project 'Ledger' does not exist "
                                  "in Azure AD")]
    History(session, AdGroup).create(created_by="sync", group_name="Finance Configurators", members=[])
    assert check(session, AdValidator(graph_client), pack()).errors == []


def test_d2o_emails_must_be_in_the_tenants_domains(session, graph, graph_client, tenant):
    graph.seed(users=[{"userPrincipalName": "alice@example.com"}],
               groups=[{"displayName": "Finance Approvers"}, {"displayName": "Finance Configurators"}])
    recipients = (RecipientSpec(name="ok", type=RecipientType.D2O, email="x@sub.example.com"),
                  RecipientSpec(name="bad", type=RecipientType.D2O, email="y@other.org"),
                  RecipientSpec(name="d2d", type=RecipientType.D2D, metastore_id="aws:us-east-1:abc"))
    findings = check(session, AdValidator(graph_client), pack(recipients=recipients))
    assert [(e.path, e.message) for e in findings.errors] == [
        ("recipient[1].email", "y@other.org is not in a domain tenant 'Finance' allows for D2O recipients "
                               "(example.com)")]


def test_pipeline_notifications_must_be_in_the_tenants_domains(session, graph, graph_client, tenant):
    graph.seed(users=[{"userPrincipalName": "alice@example.com"}],
               groups=[{"displayName": "Finance Approvers"}, {"displayName": "Finance Configurators"}])
    pipelines = (PipelineSpec(name="ok", notification_list=("ops@example.com", "x@sub.example.com")),
                 PipelineSpec(name="leak", notification_list=("ops@example.com", "me@attacker.example.org")))
    spec = dataclasses.replace(pack(), pipelines=pipelines)

    findings = check(session, AdValidator(graph_client), spec)

    assert [(e.path, e.message) for e in findings.errors] == [
        ("pipelines[1].notification_list", "me@attacker.example.org is not in a domain tenant 'Finance' allows for "
                                           "pipeline notifications (example.com)")]


def test_without_graph_the_unknown_is_skipped_with_a_warning(session, tenant):
    findings = check(session, AdValidator(None), pack())
    assert findings.errors == []
    assert [w.path for w in findings.warnings] == ["metadata.requestor", "metadata.project_name",
                                                   "metadata.project_name"]
    assert all("not configured" in w.message for w in findings.warnings)


def test_a_slow_graph_is_skipped_within_the_budget(session, graph, tenant):
    client = make_graph_client(graph.url)
    client.tokens.token()
    graph.inject_fault(429, count=10, retry_after="5")
    findings = check(session, AdValidator(client, budget_seconds=0.5), pack())
    assert findings.errors == []
    assert "within the time budget" in findings.warnings[0].message
    assert len(findings.warnings) == 3  # the group checks did not call Graph again
    # One call: it neither waited out Retry-After: 5 into a 0.5 s budget nor asked again for the groups.
    assert len([r for r in graph.requests() if r["path"].startswith("/v1.0")]) == 1


def test_an_unreachable_graph_is_skipped(session, tenant):
    from dev.graph_emulator.server import start_graph_emulator

    with start_graph_emulator() as running:
        client = make_graph_client(running.url, max_attempts=1)
        client.tokens.token()
    findings = check(session, AdValidator(client), pack())
    assert findings.errors == [] and "unavailable" in findings.warnings[0].message


def test_kept_answers_spare_graph(session, graph, graph_client, tenant):
    graph.seed(users=[{"userPrincipalName": "alice@example.com", "mail": "alice@example.com"}],
               groups=[{"displayName": "Finance Approvers"}, {"displayName": "Finance Configurators"}])
    validator = AdValidator(graph_client, cache_seconds=60)
    assert check(session, validator, pack()).errors == []
    assert graph.requests() != []
    graph.clear_requests()

    assert (check(session, validator, pack()).errors, graph.requests()) == ([], [])


def test_a_refusal_on_kept_answers_is_checked_again_live(session, graph, graph_client):
    validator = AdValidator(graph_client, cache_seconds=60)
    assert [e.message for e in check(session, validator, pack()).errors] == [
        "alice@example.com does not exist in Azure AD"]

    graph.seed(users=[{"userPrincipalName": "alice@example.com", "mail": "alice@example.com"}])

    assert check(session, validator, pack()).errors == []
