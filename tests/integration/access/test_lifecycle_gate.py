"""Revisions and rollbacks meet the same gate as uploads: the tenant's approval rule and who may upload."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.access.admission import admit_upload
from shared.access.approval import approve
from shared.errors import Forbidden, NotFound
from shared.history import History
from shared.models import Request, SharePack
from shared.status import SharePackStatus
from shared.use_cases.lifecycle import Lifecycle, configuration_versions, uploader_of
from tests.integration.access.conftest import APPROVER, CONFIGURATOR, D2D_ONLY, OUTSIDER, WORKSPACE, sample

pytestmark = pytest.mark.integration


@pytest.fixture
def lifecycle(session_factory, access_of):
    published: list[int] = []

    def make(principal=CONFIGURATOR) -> Lifecycle:
        return Lifecycle(session_factory, queue_name="access-tests", publish=published.append,
                         max_upload_bytes=1_000_000, authorize=uploader_of(access_of(principal)))

    make.published = published  # type: ignore[attr-defined]
    return make


def finish(session_factory, share_pack_id, status=SharePackStatus.COMPLETED) -> None:
    """Stand in for the worker: the pack's attempt ended."""
    with session_factory.begin() as session:
        History(session, SharePack).change(share_pack_id, changed_by="worker", change_reason="provisioning done",
                                           share_pack_status=status)


def revise(lifecycle, access_of, share_pack_id, content: bytes, principal=CONFIGURATOR):
    access = access_of(principal)
    return lifecycle(principal).revise(
        share_pack_id, content=content, filename="rev.yaml", workspace_url=WORKSPACE, performed_by=principal.identity,
        admit=lambda session, pack: admit_upload(session, access, pack, WORKSPACE),
    )


def test_a_revision_that_adds_an_external_recipient_waits_for_an_approver(
    session_factory, submit, finance, lifecycle, access_of
):
    first = submit(CONFIGURATOR, D2D_ONLY)
    finish(session_factory, first.share_pack_id)

    revised = revise(lifecycle, access_of, first.share_pack_id, sample())

    assert revised.share_pack_id == first.share_pack_id and revised.status == "PENDING_APPROVAL"
    assert lifecycle.published == []  # type: ignore[attr-defined]
    with session_factory() as session:
        request = session.scalars(select(Request).where(Request.is_current,
                                                        Request.share_pack_id == first.share_pack_id)).one()
        assert request.approver_status == "PENDING"
    decision = approve(session_factory, access_of(APPROVER), first.share_pack_id, comment=None,
                       queue_name="access-tests")
    assert decision.status == SharePackStatus.IN_PROGRESS


def test_a_rollback_that_widens_access_waits_and_one_that_does_not_is_queued(
    session_factory, submit, finance, lifecycle, access_of
):
    first = submit(CONFIGURATOR, sample())  # a D2O recipient: held for approval, then approved
    approve(session_factory, access_of(APPROVER), first.share_pack_id, comment=None, queue_name="access-tests")
    finish(session_factory, first.share_pack_id)
    narrower = revise(lifecycle, access_of, first.share_pack_id, D2D_ONLY)
    assert narrower.status == "IN_PROGRESS"
    finish(session_factory, first.share_pack_id)
    with session_factory() as session:
        one, two = configuration_versions(session, first.share_pack_id)

    same = lifecycle().rollback(first.share_pack_id, two, workspace_url=WORKSPACE, performed_by="jane.doe@example.com")
    assert same.status == "IN_PROGRESS"
    finish(session_factory, first.share_pack_id)

    wider = lifecycle().rollback(first.share_pack_id, one, workspace_url=WORKSPACE,
                                 performed_by="jane.doe@example.com")
    assert wider.status == "PENDING_APPROVAL"


def test_only_the_packs_uploaders_may_change_it(session_factory, submit, finance, lifecycle):
    first = submit(CONFIGURATOR, D2D_ONLY)
    finish(session_factory, first.share_pack_id, SharePackStatus.FAILED)

    with pytest.raises((Forbidden, NotFound)):
        lifecycle(OUTSIDER).retry(first.share_pack_id, workspace_url=WORKSPACE, performed_by=OUTSIDER.identity)
    queued = lifecycle().retry(first.share_pack_id, workspace_url=WORKSPACE, performed_by=CONFIGURATOR.identity)
    assert queued.status == "IN_PROGRESS" and len(lifecycle.published) == 1  # type: ignore[attr-defined]


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
    first_ips, later_ips, status, session_factory, submit, finance, lifecycle, access_of
):
    """Without a workspace to read (no reader), IP lists are compared with those later configurations set."""
    first = submit(CONFIGURATOR, sample(**{ALL_IPS: first_ips}))
    approve(session_factory, access_of(APPROVER), first.share_pack_id, comment=None, queue_name="access-tests")
    finish(session_factory, first.share_pack_id)
    later = revise(lifecycle, access_of, first.share_pack_id, sample(**{ALL_IPS: later_ips, "NEW": "UPDATE"}))
    if later.status == "PENDING_APPROVAL":
        approve(session_factory, access_of(APPROVER), first.share_pack_id, comment=None, queue_name="access-tests")
    finish(session_factory, first.share_pack_id)

    back = lifecycle().rollback(first.share_pack_id, 1, workspace_url=WORKSPACE, performed_by=CONFIGURATOR.identity)

    assert back.status == status
    assert back.plan is None and "Plan pending" in back.warnings[0].message
