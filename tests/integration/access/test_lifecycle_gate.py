"""Revisions and rollbacks meet the same gate as uploads: the tenant's approval rule and who may upload."""

from __future__ import annotations

import pytest

from shared.access.approval import latest_request
from shared.models import SharePack
from shared.models.history import History
from shared.platform.errors import Forbidden, NotFound
from shared.platform.status import SharePackStatus
from shared.use_cases.lifecycle import configurations
from shared.use_cases.transitions import Verdict, Workflow
from tests.integration.access.conftest import (
    APPROVER,
    CONFIGURATOR,
    D2D_ONLY,
    OUTSIDER,
    as_,
    published,
    sample,
)


def finish(session_factory, share_pack_id, status=SharePackStatus.COMPLETED) -> None:
    """Stand in for the worker: the pack's attempt ended."""
    with session_factory.begin() as session:
        History(session, SharePack).change(share_pack_id, changed_by="worker", change_reason="provisioning done",
                                           share_pack_status=status)


def revise(workflow: Workflow, share_pack_id, content: bytes, principal=CONFIGURATOR):
    return workflow.revise(as_(principal), share_pack_id, content, "rev.yaml")


def approve(workflow: Workflow, session_factory, share_pack_id, principal=APPROVER):
    """An approver reads the pack's current version and approves it."""
    with session_factory() as session:
        version = History(session, SharePack).get_current(share_pack_id).version
    return workflow.approve(as_(principal), share_pack_id, Verdict(version))


def test_a_revision_that_adds_an_external_recipient_waits_for_an_approver(
    session_factory, submit, finance, workflow
):
    first = submit(CONFIGURATOR, D2D_ONLY)
    finish(session_factory, first.share_pack_id)

    queued_before = list(published(workflow))
    revised = revise(workflow, first.share_pack_id, sample())

    assert revised.share_pack_id == first.share_pack_id and revised.status == "PENDING_APPROVAL"
    assert published(workflow) == queued_before
    with session_factory() as session:
        request = latest_request(session, first.share_pack_id)
        assert (request.approver_status, request.requested_by) == ("PENDING", CONFIGURATOR.identity)
    decision = approve(workflow, session_factory, first.share_pack_id)
    assert decision.status == SharePackStatus.IN_PROGRESS


def test_a_rollback_that_widens_access_waits_and_one_that_does_not_is_queued(
    session_factory, submit, finance, workflow
):
    first = submit(CONFIGURATOR, sample())  # a D2O recipient: held for approval, then approved
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    narrower = revise(workflow, first.share_pack_id, D2D_ONLY)
    assert narrower.status == "IN_PROGRESS"
    finish(session_factory, first.share_pack_id)
    with session_factory() as session:
        one, two = (c.version for c in configurations(session, first.share_pack_id))

    same = workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, two)
    assert same.status == "IN_PROGRESS"
    finish(session_factory, first.share_pack_id)

    wider = workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, one)
    assert wider.status == "PENDING_APPROVAL"


def test_only_the_packs_uploaders_may_change_it(session_factory, submit, finance, workflow):
    first = submit(CONFIGURATOR, D2D_ONLY)
    finish(session_factory, first.share_pack_id, SharePackStatus.FAILED)

    with pytest.raises((Forbidden, NotFound)):
        workflow.retry(as_(OUTSIDER), first.share_pack_id)
    before = len(published(workflow))
    queued = workflow.retry(as_(CONFIGURATOR), first.share_pack_id)
    assert queued.status == "IN_PROGRESS" and len(published(workflow)) == before + 1


ALL_IPS = "  allowed_ips:\n  - 203.0.113.0/24\n  - 198.51.100.7\n"
ONE_IP = "  allowed_ips:\n  - 198.51.100.7\n"


@pytest.mark.parametrize(
    ("first_ips", "later_ips", "status"),
    [
        ("", ALL_IPS, "PENDING_APPROVAL"),  # going back clears the IP list: anyone may connect
        (ALL_IPS, ONE_IP, "PENDING_APPROVAL"),  # going back allows an address the pack does not now
        (ONE_IP, ALL_IPS, "IN_PROGRESS"),  # going back narrows the list
    ],
)
def test_a_rollback_that_opens_an_ip_list_waits_for_an_approver(
    first_ips, later_ips, status, session_factory, submit, finance, workflow
):
    """Without a workspace to read (no reader), IP lists are compared with those later configurations set."""
    first = submit(CONFIGURATOR, sample(**{ALL_IPS: first_ips}))
    approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)
    later = revise(workflow, first.share_pack_id, sample(**{ALL_IPS: later_ips, "NEW": "UPDATE"}))
    if later.status == "PENDING_APPROVAL":
        approve(workflow, session_factory, first.share_pack_id)
    finish(session_factory, first.share_pack_id)

    back = workflow.rollback(as_(CONFIGURATOR), first.share_pack_id, 1)

    assert back.status == status
    assert back.plan is None and "Plan pending" in back.warnings[0].message
