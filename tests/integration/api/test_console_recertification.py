"""The pack page's recertification section: shown when the project requires it, with a button for its
approvers and administrators only; the POST checks again and the result is flashed."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import ProjectSpec, put_local_group, put_project
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.access_expiry.records import record_completion
from shared.models import Project, SharePack
from shared.models.history import History
from shared.share_pack_file.sample import sample_share_pack
from tests.integration.api.conftest import API_KEY
from tests.integration.api.test_console_actions import APPROVER_KEY, OUTSIDER_KEY, client, flashed, post, upload
from tests.integration.api.test_console_routes import csrf_of, sign_in
from tests.support.access import EXAMPLE_BUSINESS_LINE

__all__ = ["client"]  # the fixture: the administrator `tester`, `outsider` and `approver`

BUTTON = ">Recertify access</button>"


def provisioned_pack(client: FlaskClient, sessions: sessionmaker[Session]) -> str:
    """The example pack as the worker leaves it, its project approved by `approver`, recertified every 30 days."""
    share_pack_id = upload(client, sample_share_pack())
    admin = Access(Principal.from_api_key("tester", admins=frozenset({"tester"})), frozenset())
    put_local_group(sessions, admin, "example-approvers", ["approver"])
    put_project(sessions, admin, ProjectSpec(EXAMPLE_BUSINESS_LINE, sample_share_pack().metadata.project_name,
                                             approver_groups=["example-approvers"], configurator_groups=[]))
    with sessions.begin() as session:
        pack = History(session, SharePack).change(uuid.UUID(share_pack_id), changed_by="worker",
                                                  change_reason="provisioned", share_pack_status="COMPLETED")
        record_completion(session, pack, by="worker")
        project_id = session.scalar(select(Project.project_id).where(Project.project_id == pack.project_id))
    response = client.put(f"/workflow/projects/{project_id}/recertification", json={"EveryDays": 30},
                          headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200, response.json
    return share_pack_id


def test_an_outsider_neither_sees_the_section_nor_can_post(client: FlaskClient, session_factory) -> None:
    share_pack_id = provisioned_pack(client, session_factory)
    sign_in(client, api_key=OUTSIDER_KEY)
    assert client.get(f"/console/packs/{share_pack_id}").status_code == 404
    assert post(client, share_pack_id, "recertify").status_code == 404
    assert client.post(f"/console/packs/{share_pack_id}/recertify").status_code == 400  # no CSRF token


def test_the_approver_sees_the_deadline_and_recertifies(client: FlaskClient, session_factory) -> None:
    share_pack_id = provisioned_pack(client, session_factory)
    sign_in(client, api_key=APPROVER_KEY)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert 'id="recertification-heading"' in page and "every 30 days" in page and BUTTON in page

    message = flashed(client, post(client, share_pack_id, "recertify"))

    assert message.startswith("Access recertified; the next recertification is due at ")
    assert "by approver" in client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)


def test_no_section_when_the_project_requires_none(client: FlaskClient, session_factory) -> None:
    share_pack_id = upload(client, sample_share_pack())
    sign_in(client)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert 'id="recertification-heading"' not in page
    refused = client.post(f"/console/packs/{share_pack_id}/recertify",
                          data={"csrf_token": csrf_of(client, f"/console/packs/{share_pack_id}")})
    assert refused.status_code == 409
