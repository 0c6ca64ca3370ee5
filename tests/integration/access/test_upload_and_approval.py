"""Upload rules and the approval gate on the real database: refusals store nothing but an audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.access.admission import UnregisteredBusinessLine
from shared.models import AuditEntry, Notification, OutboxMessage, Request, SharePack
from shared.models.history import History
from shared.platform.errors import Conflict, Forbidden, NotFound
from shared.use_cases.transitions import Verdict
from tests.integration.access.conftest import (
    ADMIN,
    APPROVER,
    CONFIGURATOR,
    D2D_ONLY,
    OTHER_WORKSPACE,
    OUTSIDER,
    as_,
    published,
    sample,
)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_unregistered_business_line_is_refused_and_named(session_factory, submit, finance):
    with pytest.raises(UnregisteredBusinessLine, match="'Marketing' is not registered"):
        submit(CONFIGURATOR, sample(**{"business_line: Finance": "business_line: Marketing"}))
    with session_factory() as session:
        assert count(session, SharePack) == 0
        rejected = session.scalars(select(AuditEntry).where(AuditEntry.action == "REJECTED")).one()
        assert "Marketing" in rejected.new_values["errors"][0]


@pytest.mark.parametrize(
    ("principal", "content", "workspace", "rule"),
    [
        (CONFIGURATOR, sample(), OTHER_WORKSPACE, "is not one of business line 'Finance'"),
        (OUTSIDER, sample(**{"jane.doe@": "mallory@"}), None, "Only configurators of business line"),
        (CONFIGURATOR, sample(**{"jane.doe@": "someone.else@"}), None, "metadata.requestor must be you"),
    ],
    ids=["foreign-workspace", "not-a-configurator", "forged-requestor"],
)
def test_upload_rules_refuse_with_the_rule(session_factory, submit, finance, principal, content, workspace, rule):
    kwargs = {"workspace": workspace} if workspace else {}
    with pytest.raises(Forbidden, match=rule):
        submit(principal, content, **kwargs)
    with session_factory() as session:
        assert count(session, SharePack) == 0 and count(session, OutboxMessage) == 0


def test_administrator_uploads_on_behalf_and_both_names_are_recorded(session_factory, submit, finance):
    submitted = submit(ADMIN, D2D_ONLY)
    with session_factory() as session:
        pack = History(session, SharePack).get_current(submitted.share_pack_id)
        assert pack.requested_by == ADMIN.identity
        created = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "CREATED", AuditEntry.entity_type == "share_pack",
            AuditEntry.entity_id == str(submitted.share_pack_id))).one()
        assert created.new_values["requestor"] == "jane.doe@example.com"
        assert created.new_values["requested_by"] == ADMIN.identity


def test_unknown_project_is_created_only_for_tenant_configurators(session_factory, submit, finance):
    renamed = sample(**{"project_name: Partner analytics": "project_name: Brand new"})
    submitted = submit(CONFIGURATOR, renamed)
    with session_factory() as session:
        assert History(session, SharePack).get_current(submitted.share_pack_id).project_name == "Brand new"


def test_external_pack_waits_for_an_approver_then_is_queued(session_factory, submit, finance, workflow):
    submitted = submit(CONFIGURATOR, sample())  # declares a D2O recipient: the `external` rule holds it
    assert submitted.status == "PENDING_APPROVAL"
    assert submit.published == []  # type: ignore[attr-defined]
    with session_factory() as session:
        assert count(session, OutboxMessage) == 0
        waiting = session.scalars(select(Notification).where(Notification.notification_type == "APPROVAL_REQUIRED"))
        assert [(n.recipient_email, n.related_entity_id) for n in waiting] == [
            (APPROVER.identity, submitted.share_pack_id)  # the project's approvers, never the requestor
        ]

    with pytest.raises(Forbidden, match="requestor of a share pack may not approve"):
        workflow.approve(as_(CONFIGURATOR), submitted.share_pack_id, Verdict(1))
    with pytest.raises(NotFound):  # cannot see Finance at all
        workflow.approve(as_(OUTSIDER), submitted.share_pack_id, Verdict(1))

    decision = workflow.approve(as_(APPROVER), submitted.share_pack_id, Verdict(1, "ok"))
    assert decision.status == "IN_PROGRESS" and len(published(workflow)) == 1
    with session_factory() as session:
        request = session.scalars(select(Request).where(Request.is_current)).one()
        assert (request.status, request.approver_status, request.approved_by) == (
            "APPROVED", "APPROVED", APPROVER.identity)
        assert request.approved_datetime is not None
        approved = session.scalars(select(AuditEntry).where(AuditEntry.action == "APPROVED")).one()
        assert approved.performed_by == APPROVER.identity and approved.new_values["comment"] == "ok"
    with pytest.raises(Conflict, match="not waiting for approval"):
        workflow.decline(as_(APPROVER), submitted.share_pack_id, Verdict(decision.version, "too late"))


def test_declined_pack_is_never_queued(session_factory, submit, finance, workflow):
    submitted = submit(CONFIGURATOR, sample())
    decision = workflow.decline(as_(APPROVER), submitted.share_pack_id, Verdict(1, "no"))
    assert decision.status == "DECLINED" and published(workflow) == []
    with session_factory() as session:
        assert count(session, OutboxMessage) == 0
        assert History(session, SharePack).get_current(submitted.share_pack_id).share_pack_status == "DECLINED"
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "DECLINED")).one()


def test_d2d_only_pack_skips_the_external_rule(session_factory, submit, finance):
    assert submit(CONFIGURATOR, D2D_ONLY).status == "IN_PROGRESS"
    with session_factory() as session:
        assert count(session, OutboxMessage) == 1
