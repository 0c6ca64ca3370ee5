"""The pack page's recertification section: shown when the project requires it, with a button for its
approvers and administrators only; the POST checks again and the result is flashed. Administrators also set
the project's period there, through the use case `PUT /workflow/projects/<id>/recertification` calls."""

from __future__ import annotations

import uuid

import pytest
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
from tests.integration.api.test_console_routes import LOCAL_WORKSPACE, csrf_of, sign_in
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


def test_no_deadline_nor_button_when_the_project_requires_none(client: FlaskClient, session_factory) -> None:
    share_pack_id = upload(client, sample_share_pack())
    sign_in(client)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert "does not require its access to be recertified" in page and BUTTON not in page
    refused = client.post(f"/console/packs/{share_pack_id}/recertify",
                          data={"csrf_token": csrf_of(client, f"/console/packs/{share_pack_id}")})
    assert refused.status_code == 409


PERIOD_BUTTON = ">Set recertification period</button>"


def project_of(sessions: sessionmaker[Session], share_pack_id: str) -> uuid.UUID:
    with sessions() as session:
        pack = History(session, SharePack).current(uuid.UUID(share_pack_id))
        assert pack is not None and pack.project_id is not None
        return pack.project_id


def provisioned_pack_and_project(client: FlaskClient, sessions: sessionmaker[Session]) -> tuple[str, uuid.UUID]:
    """`provisioned_pack`, with its project's id (recertified every 30 days)."""
    share_pack_id = provisioned_pack(client, sessions)
    return share_pack_id, project_of(sessions, share_pack_id)


def set_period(client: FlaskClient, project_id: object, share_pack_id: str, every_days: str, *,
               csrf: bool = True):
    form = {"every_days": every_days, "share_pack_id": share_pack_id}
    if csrf:
        form["csrf_token"] = csrf_of(client)
    return client.post(f"/console/projects/{project_id}/recertification", data=form)


def period_of(client: FlaskClient, share_pack_id: str) -> object:
    response = client.get(f"/workflow/sharepack/{share_pack_id}/recertification",
                          headers={"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": LOCAL_WORKSPACE})
    assert response.status_code == 200, response.json
    return response.json["EveryDays"]


def test_the_administrator_sets_changes_and_lifts_the_period_from_the_pack_page(
    client: FlaskClient, session_factory
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    project_id = project_of(session_factory, share_pack_id)
    sign_in(client)
    assert PERIOD_BUTTON in client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)

    first = flashed(client, set_period(client, project_id, share_pack_id, "45"))
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert first == "The project now requires its access to be recertified every 45 days."
    assert "every 45 days" in page and 'value="45"' in page and period_of(client, share_pack_id) == 45

    lifted = flashed(client, set_period(client, project_id, share_pack_id, ""))
    assert lifted == "The project no longer requires recertification."
    assert period_of(client, share_pack_id) is None


def test_an_approver_who_sees_the_pack_gets_no_form_and_is_refused_when_posting_anyway(
    client: FlaskClient, session_factory
) -> None:
    share_pack_id, project_id = provisioned_pack_and_project(client, session_factory)
    sign_in(client, api_key=APPROVER_KEY)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert BUTTON in page and PERIOD_BUTTON not in page

    # the approver copies the administrator's form to lift the rule, or to make it absurdly long
    lifted = set_period(client, project_id, share_pack_id, "")
    stretched = set_period(client, project_id, share_pack_id, "3660")

    assert lifted.status_code == 403 and stretched.status_code == 403
    assert "Only administrators" in lifted.get_data(as_text=True)
    assert period_of(client, share_pack_id) == 30


def test_an_outsider_is_refused_and_a_post_without_its_csrf_token_is_rejected(
    client: FlaskClient, session_factory
) -> None:
    share_pack_id, project_id = provisioned_pack_and_project(client, session_factory)
    sign_in(client, api_key=OUTSIDER_KEY)

    assert set_period(client, project_id, share_pack_id, "1").status_code == 403
    assert set_period(client, uuid.uuid4(), share_pack_id, "1").status_code == 403  # learns nothing of ids
    sign_in(client)
    assert set_period(client, project_id, share_pack_id, "1", csrf=False).status_code == 400
    assert period_of(client, share_pack_id) == 30


@pytest.mark.parametrize(("every_days", "status"), [
    ("0", 400), ("-3", 400), ("3661", 400), ("ten", 400), ("9" * 40, 400), ("1.5", 400),
])
def test_a_bad_period_is_refused_and_changes_nothing(client: FlaskClient, session_factory, every_days, status):
    share_pack_id, project_id = provisioned_pack_and_project(client, session_factory)
    sign_in(client)

    response = set_period(client, project_id, share_pack_id, every_days)

    assert response.status_code == status
    assert period_of(client, share_pack_id) == 30


def test_an_unknown_project_or_pack_is_a_404(client: FlaskClient, session_factory) -> None:
    share_pack_id = upload(client, sample_share_pack())
    project_id = project_of(session_factory, share_pack_id)
    sign_in(client)

    assert set_period(client, uuid.uuid4(), share_pack_id, "30").status_code == 404
    assert set_period(client, "not-a-uuid", share_pack_id, "30").status_code == 404
    assert set_period(client, project_id, "not-a-uuid", "30").status_code == 404
    assert period_of(client, share_pack_id) is None
