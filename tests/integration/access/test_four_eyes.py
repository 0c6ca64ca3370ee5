"""Four eyes, as an insider would try to get around them: every attempt is refused and changes no table."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.access.administration import (
    ProjectSpec,
    put_local_group,
    put_project,
)
from shared.access.approval import latest_request
from shared.access.principals import Principal
from shared.models import AuditEntry, OutboxMessage, Project, Request, SharePack
from shared.models.history import History
from shared.platform.errors import Conflict, Forbidden
from shared.platform.status import SharePackStatus
from shared.use_cases.lifecycle import rollback_targets
from shared.use_cases.transitions import Verdict
from tests.integration.access.conftest import (
    ADMIN,
    APPROVER,
    CONFIGURATOR,
    D2D_ONLY,
    as_,
    published,
    sample,
)

#: Configures Finance and approves its project: may change a pack and may approve, but never both at once.
BOTH = Principal.from_api_key("bob@example.com", admins=frozenset())


@pytest.fixture
def bob(session_factory, finance, access_of) -> Principal:
    admin = access_of(ADMIN)
    put_local_group(session_factory, admin, "finance-configurators", [CONFIGURATOR.identity, BOTH.identity])
    put_local_group(session_factory, admin, "finance-approvers", [APPROVER.identity, BOTH.identity])
    return BOTH


def tables(session_factory) -> dict[str, int]:
    """Row counts of every table a move writes: equal before and after means nothing changed."""
    with session_factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (SharePack, Request, OutboxMessage, AuditEntry, Project)
        }


def current(session_factory, share_pack_id) -> SharePack:
    with session_factory() as session:
        return History(session, SharePack).get_current(share_pack_id)


def finish(session_factory, share_pack_id) -> None:
    """Stand in for the worker: the pack's attempt completed."""
    with session_factory.begin() as session:
        History(session, SharePack).change(share_pack_id, changed_by="worker", change_reason="provisioning done",
                                           share_pack_status=SharePackStatus.COMPLETED)


def approve(workflow, session_factory, share_pack_id, principal=APPROVER):
    return workflow.approve(as_(principal), share_pack_id, Verdict(current(session_factory, share_pack_id).version))


def test_a_tenant_configurator_cannot_change_or_clear_approver_groups(session_factory, finance, access_of):
    jane = access_of(CONFIGURATOR)  # configures the whole business line
    before = tables(session_factory)

    with pytest.raises(Forbidden, match="Only administrators may set a project's approver groups"):
        put_project(
            session_factory,
            jane,
            ProjectSpec(
                "Finance",
                "Partner analytics",
                approver_groups=["finance-configurators"],
                configurator_groups=[],
            ),
        )
    with pytest.raises(Forbidden, match="approver groups"):
        put_project(
            session_factory,
            jane,
            ProjectSpec("Finance", "Partner analytics", approver_groups=[], configurator_groups=[]),
        )
    with pytest.raises(Forbidden, match="approver groups"):  # a new project of her own, approved by herself
        put_project(
            session_factory,
            jane,
            ProjectSpec("Finance", "Side door", approver_groups=["finance-configurators"], configurator_groups=[]),
        )

    assert tables(session_factory) == before
    # What she may do: change the configurators, the approvers kept (sent unchanged, or left out).
    put_project(
        session_factory,
        jane,
        ProjectSpec(
            "Finance",
            "Partner analytics",
            approver_groups=["Finance-Approvers"],
            configurator_groups=["finance-configurators"],
        ),
    )
    project = put_project(
        session_factory,
        jane,
        ProjectSpec(
            "Finance",
            "Partner analytics",
            approver_groups=None,
            configurator_groups=["finance-configurators"],
        ),
    )
    assert project.approver == ["finance-approvers"]


def test_whoever_starts_a_rollback_is_its_requestor_and_cannot_approve_it(session_factory, submit, workflow, bob):
    first = submit(CONFIGURATOR, sample())  # a D2O recipient: held, then approved by the approver
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    workflow.revise(as_(CONFIGURATOR), first.share_pack_id, D2D_ONLY, "narrower.yaml")
    finish(session_factory, first.share_pack_id)

    rollback = workflow.rollback(as_(bob), first.share_pack_id, 1)  # back to the D2O recipient: wider
    assert rollback.status == SharePackStatus.PENDING_APPROVAL
    with session_factory() as session:
        assert latest_request(session, first.share_pack_id).requested_by == bob.identity
    assert current(session_factory, first.share_pack_id).requested_by == bob.identity
    before = tables(session_factory)

    with pytest.raises(Forbidden, match="requestor of a share pack may not approve"):
        workflow.approve(as_(bob), first.share_pack_id, Verdict(rollback.version))
    with pytest.raises(Forbidden, match="requestor of a share pack may not approve or decline"):
        workflow.decline(as_(bob), first.share_pack_id, Verdict(rollback.version, "nothing to see"))

    assert tables(session_factory) == before
    assert approve(workflow, session_factory, first.share_pack_id).status == SharePackStatus.IN_PROGRESS


def test_an_approver_who_revised_a_pack_cannot_approve_it_after_someone_else_revises_it(
    session_factory, submit, workflow, bob
):
    first = submit(CONFIGURATOR, sample())
    workflow.revise(as_(bob), first.share_pack_id, sample(**{"198.51.100.7": "0.0.0.0/0", "jane.doe@": "bob@"}),
                    "open.yaml")
    revised = workflow.revise(as_(CONFIGURATOR), first.share_pack_id, sample(**{"198.51.100.7": "0.0.0.0/0"}),
                              "same-by-jane.yaml")  # the pack no longer names bob anywhere
    assert current(session_factory, first.share_pack_id).requested_by == CONFIGURATOR.identity
    before = tables(session_factory)

    with pytest.raises(Forbidden, match=r"changed share pack .* since its last decision"):
        workflow.approve(as_(bob), first.share_pack_id, Verdict(revised.version))

    assert tables(session_factory) == before


def test_a_declined_configuration_is_never_a_rollback_target(session_factory, finance, submit, workflow):
    first = submit(CONFIGURATOR, D2D_ONLY)
    finish(session_factory, first.share_pack_id)
    held = workflow.revise(as_(CONFIGURATOR), first.share_pack_id, sample(), "with-d2o.yaml")
    workflow.decline(as_(APPROVER), first.share_pack_id, Verdict(held.version, "no open sharing"))
    workflow.revise(as_(CONFIGURATOR), first.share_pack_id, D2D_ONLY, "again.yaml")
    finish(session_factory, first.share_pack_id)
    before = tables(session_factory)

    with pytest.raises(Conflict, match="declined by an approver"):
        workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, held.version)
    with pytest.raises(Conflict, match="declined by an approver"):
        workflow.preview_rollback(as_(CONFIGURATOR), first.share_pack_id, held.version)

    assert tables(session_factory) == before
    with session_factory() as session:
        assert held.version not in rollback_targets(session, first.share_pack_id)
        assert 1 in rollback_targets(session, first.share_pack_id)


def test_approving_a_version_the_approver_did_not_read_is_refused(session_factory, finance, submit, workflow):
    first = submit(CONFIGURATOR, sample())
    read = current(session_factory, first.share_pack_id).version  # what the approver looks at
    # ... meanwhile the requestor opens the IP list to the world
    revised = workflow.revise(as_(CONFIGURATOR), first.share_pack_id, sample(**{"198.51.100.7": "0.0.0.0/0"}),
                              "open.yaml")
    assert revised.status == SharePackStatus.PENDING_APPROVAL
    before = tables(session_factory)

    with pytest.raises(Conflict, match=f"now version {revised.version}, not version {read}"):
        workflow.approve(as_(APPROVER), first.share_pack_id, Verdict(read))
    with pytest.raises(Conflict, match=f"now version {revised.version}"):
        workflow.decline(as_(APPROVER), first.share_pack_id, Verdict(read, "no"))

    assert tables(session_factory) == before and published(workflow) == []
    assert current(session_factory, first.share_pack_id).share_pack_status == SharePackStatus.PENDING_APPROVAL


def test_a_rollback_that_adds_back_data_objects_waits_for_an_approver(session_factory, finance, submit, workflow):
    """Same recipients and grants, more tables: more access, so the approved target's approval does not carry."""
    first = submit(CONFIGURATOR, sample())
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    fewer = sample(**{"  - name: sales.reporting.returns\n    history: true\n": "", "NEW": "UPDATE"})
    narrower = workflow.revise(as_(CONFIGURATOR), first.share_pack_id, fewer, "fewer.yaml")
    if narrower.status == SharePackStatus.PENDING_APPROVAL:
        approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)

    back = workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, 1)

    assert back.status == SharePackStatus.PENDING_APPROVAL
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == len(published(workflow))


def test_a_rollback_to_an_approved_narrower_configuration_carries_its_approval(
    session_factory, finance, submit, workflow
):
    first = submit(CONFIGURATOR, sample())
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    one_more_ip = sample(**{"198.51.100.7": "198.51.100.7\n  - 192.0.2.1", "NEW": "UPDATE"})
    wider = workflow.revise(as_(CONFIGURATOR), first.share_pack_id, one_more_ip, "wider.yaml")
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    assert wider.status == SharePackStatus.PENDING_APPROVAL

    back = workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, 1)

    assert back.status == SharePackStatus.IN_PROGRESS
    with session_factory() as session:
        request = latest_request(session, first.share_pack_id)
        # its own request row: asked by the caller, approved as configuration 1 was
        assert (request.requested_by, request.approver_status, request.approved_by) == (
            CONFIGURATOR.identity, "APPROVED", APPROVER.identity)
