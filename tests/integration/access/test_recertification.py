"""Recertification through the HTTP API: who may require it and who may confirm a pack's access, the attacks
first; then a confirmation moving the deadline, and an unconfirmed pack losing its grants through a new version.

The principals and tenants are those of `test_api_matrix`: alice configures Finance (and requested the pack),
bob approves its project `Partner analytics`, dave and erin hold roles in its other project `Other`, carol
configures Retail, mallory belongs to nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.access_expiry.records import record_completion
from shared.models import AccessNotice, Notification, OutboxMessage, Project, SharePack
from shared.models.history import History
from shared.share_pack_file.model import SharePackSpec
from shared.use_cases.access_expiry import AccessExpiryWatch
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.transitions import Workflow
from tests.integration.access import test_api_matrix as matrix
from tests.integration.access.test_api_matrix import alices_pack, headers

# The matrix's deployment: its settings and API client (fixtures); the two tenants written for each test.
settings, sessions_and_app, client = matrix.settings, matrix.sessions_and_app, matrix.client


@pytest.fixture
def two_tenants(settings, session_factory) -> None:
    matrix.write_two_tenants(settings, session_factory)


def project_id(session_factory, name: str = "Partner analytics") -> uuid.UUID:
    with session_factory() as session:
        return session.scalar(select(Project.project_id).where(Project.project_name == name, Project.is_current))


def completed_pack(client, session_factory) -> str:
    """Alice's pack, as the worker leaves it once provisioned (its completion recorded)."""
    pack_id = alices_pack(client)
    with session_factory.begin() as session:
        pack = History(session, SharePack).change(
            uuid.UUID(pack_id), changed_by="worker", change_reason="provisioning completed",
            share_pack_status="COMPLETED", provisioning_status="Step 8/8: done")
        record_completion(session, pack, by="worker")
    return pack_id


def require_every(client, project: uuid.UUID, days: int | None, who: str | None = "admin"):
    return client.put(f"/workflow/projects/{project}/recertification", json={"EveryDays": days},
                      headers=headers(who))


def recertify(client, pack_id: str, who: str | None):
    return client.post(f"/workflow/sharepack/{pack_id}/recertify", headers=headers(who))


# -- the attacks ------------------------------------------------------------------------------------------


def test_an_unauthenticated_caller_can_neither_require_nor_confirm(client, two_tenants, session_factory):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30, who=None).status_code == 401
    assert recertify(client, pack_id, None).status_code == 401
    assert client.get(f"/workflow/sharepack/{pack_id}/recertification", headers=headers(None)).status_code == 401


@pytest.mark.parametrize("who", ["dave", "erin", "carol", "mallory"])
def test_a_member_of_another_project_or_tenant_cannot_even_find_the_pack(client, two_tenants, session_factory, who):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30).status_code == 200

    response = recertify(client, pack_id, who)

    assert response.status_code == 404
    assert response.json["Message"] == f"Share pack {pack_id} not found"  # like an unknown id


def test_the_requestor_may_not_confirm_their_own_access(client, two_tenants, session_factory):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30).status_code == 200

    response = recertify(client, pack_id, "alice")  # she requested it and configures the business line

    assert response.status_code == 403
    assert "owners (configurators) and approvers of the share pack's project" in response.json["Message"]


@pytest.mark.parametrize("who", ["alice", "bob", "dave", "mallory"])
def test_only_administrators_require_recertification(client, two_tenants, session_factory, who):
    response = require_every(client, project_id(session_factory), 1, who=who)

    assert response.status_code == 403
    assert response.json["Message"] == "Only administrators may set a project's recertification period"


@pytest.mark.parametrize("body", [{"EveryDays": 0}, {"EveryDays": 99999}, {"EveryDays": "30"}, {"EveryDays": 1.5},
                                  {}, {"EveryDays": 30, "Extra": 1}])
def test_a_bad_period_is_refused_with_a_4xx(client, two_tenants, session_factory, body):
    response = client.put(f"/workflow/projects/{project_id(session_factory)}/recertification", json=body,
                          headers=headers("admin"))
    assert response.status_code == 400, response.json
    assert response.json["ErrorCode"] == "INVALID_INPUT"


@pytest.mark.parametrize("project", ["not-a-uuid", "c7807762-07a8-413a-ade7-5c8499d8e2dc"],
                         ids=["malformed", "unknown"])
def test_an_unknown_project_is_not_found(client, two_tenants, project):
    assert require_every(client, project, 30).status_code == 404


def test_a_project_without_the_rule_or_a_pack_not_provisioned_cannot_be_recertified(
    client, two_tenants, session_factory
):
    waiting = alices_pack(client)  # PENDING_APPROVAL
    done = completed_pack(client, session_factory)
    assert recertify(client, done, "bob").status_code == 409  # the project requires none yet
    assert require_every(client, project_id(session_factory), 30).status_code == 200
    assert recertify(client, waiting, "bob").status_code == 409


# -- confirm and lapse ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "admin"])
def test_an_approver_or_administrator_confirms_and_the_deadline_moves(client, two_tenants, session_factory, who):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30).json["EveryDays"] == 30
    before = client.get(f"/workflow/sharepack/{pack_id}/recertification", headers=headers("alice")).json

    response = recertify(client, pack_id, who)

    assert response.status_code == 200, response.json
    after = response.json
    assert after["CertifiedBy"] == ("platform-admin" if who == "admin" else "bob@example.com")
    assert datetime.fromisoformat(after["DueAt"]) > datetime.fromisoformat(before["DueAt"])
    assert datetime.fromisoformat(after["DueAt"]) - datetime.fromisoformat(after["CertifiedAt"]) == timedelta(30)


def test_an_unconfirmed_pack_is_reminded_then_loses_every_grant_through_a_new_version(
    client, two_tenants, session_factory
):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30).status_code == 200
    due = datetime.fromisoformat(
        client.get(f"/workflow/sharepack/{pack_id}/recertification", headers=headers("bob")).json["DueAt"])
    published: list[int] = []
    watch = AccessExpiryWatch(session_factory, Workflow(session_factory, ViaOutbox("recert", published.append)))

    for days in (14, 3, 1):
        assert watch.run(now=due - timedelta(days=days) + timedelta(minutes=1)).reminders == 2
        assert watch.run(now=due - timedelta(days=days) + timedelta(minutes=2)).reminders == 0
    counts = watch.run(now=due + timedelta(minutes=1))

    assert counts.revoked == 1
    with session_factory() as session:
        pack = History(session, SharePack).get_current(uuid.UUID(pack_id))
        assert pack.share_pack_status == "IN_PROGRESS"
        assert pack.change_reason.startswith("access lapsed: recertification was due on ")
        spec = SharePackSpec.from_dict(pack.config)
        assert all(share.recipients == () for share in spec.shares) and spec.recipients
        assert session.scalar(select(OutboxMessage.id).where(OutboxMessage.id.in_(published))) is not None
        mails = session.execute(select(Notification.subject, Notification.recipient_email).where(
            Notification.related_entity_id == pack.share_pack_id, Notification.notification_type == "ACCESS_EXPIRY"))
        # the requestor and the project's approver, three reminders and the revocation each
        assert sorted((subject.split(":")[0], to) for subject, to in mails) == sorted(
            (subject, to) for to in ("alice@example.com", "bob@example.com") for subject in (
                "Access ends in 14 day(s) or less", "Access ends in 3 day(s) or less",
                "Access ends in 1 day(s) or less", "Access revoked"))
        [body] = set(session.scalars(select(Notification.body).where(
            Notification.related_entity_id == pack.share_pack_id,
            Notification.subject.startswith("Access ends in 14"), Notification.recipient_email == "bob@example.com")))
        assert "every grant of the share pack" in body and f"/workflow/sharepack/{pack_id}/recertify" in body
        reminded = set(session.scalars(select(AccessNotice.threshold_days).where(
            AccessNotice.share_pack_id == pack.share_pack_id)))
        assert reminded == {14, 3, 1}


def test_a_confirmation_before_the_deadline_keeps_the_access(client, two_tenants, session_factory):
    pack_id = completed_pack(client, session_factory)
    assert require_every(client, project_id(session_factory), 30).status_code == 200
    first_due = datetime.fromisoformat(recertify(client, pack_id, "bob").json["DueAt"])
    watch = AccessExpiryWatch(session_factory, Workflow(session_factory, ViaOutbox("recert", lambda _: None)))

    counts = watch.run(now=datetime.now(UTC) + timedelta(days=29))  # before the deadline: reminders only
    assert counts.revoked == 0
    assert watch.run(now=first_due - timedelta(seconds=1)).revoked == 0
    with session_factory() as session:
        assert History(session, SharePack).get_current(uuid.UUID(pack_id)).share_pack_status == "COMPLETED"
