"""The pack page's actions (retry, roll back, reconcile) through Flask's test client on the real PostgreSQL:
what is offered to whom, that a POST checks again, and the flashed result. The journeys run in chromium
(tests/browser/test_actions.py); token rotation needs the workspace emulator and is covered there."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import (
    ProjectSpec,
    put_local_group,
    put_project,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.models import DriftFindingRow, SharePack, Tenant
from shared.models.history import History
from shared.platform.errors import ConfigurationError
from shared.platform.status import SharePackStatus
from shared.share_pack_file import SharePackSpec, to_yaml
from shared.share_pack_file.sample import sample_share_pack
from tests.integration.api.conftest import API_KEY, LOCAL_WORKSPACE, RecordingPublisher, make_settings
from tests.integration.api.test_console_routes import csrf_of, sign_in
from tests.support.access import EXAMPLE_BUSINESS_LINE

OUTSIDER_KEY = "outsider-key-0123456789abcdef01234"
APPROVER_KEY = "approver-key-0123456789abcdef01234"
STATUS_REGION = re.compile(r'<div id="flash" role="status">\s*<p class="alert alert-ok">([^<]+)</p>')


@pytest.fixture
def client(app_factory: Callable[..., FlaskClient]) -> FlaskClient:
    """The administrator `tester` (may do everything), `outsider`, who belongs to no business line, and
    `approver`, who approves the example project's packs (so sees them) but does not configure it."""
    keys = f"tester={API_KEY},outsider={OUTSIDER_KEY},approver={APPROVER_KEY}"
    return app_factory(make_settings(api_keys=keys))


def upload(client: FlaskClient, spec: SharePackSpec, share_pack_id: str | None = None) -> str:
    """Upload (or revise) a pack through the API, as its requestor's tools would; return its id."""
    path = f"/workflow/sharepack/{share_pack_id}/upload" if share_pack_id else "/workflow/sharepack/upload"
    response = client.post(
        path, data={"file": (io.BytesIO(to_yaml(spec).encode()), "pack.yaml")},
        headers={"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": LOCAL_WORKSPACE},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    return response.json["SharePackId"]


def finish(sessions: sessionmaker[Session], share_pack_id: str, status: SharePackStatus, error: str = "") -> None:
    """What the worker writes at the end of an attempt."""
    with sessions.begin() as session:
        History(session, SharePack).change(
            uuid.UUID(share_pack_id), changed_by="worker", change_reason="provisioned",
            share_pack_status=status, error_message=error or None,
        )


def post(client: FlaskClient, share_pack_id: str, action: str, **form: str):
    return client.post(f"/console/packs/{share_pack_id}/{action}", data={"csrf_token": csrf_of(client), **form})


def flashed(client: FlaskClient, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    match = STATUS_REGION.search(client.get(response.headers["Location"]).get_data(as_text=True))
    assert match, "the result is shown in the page's status region"
    return match.group(1)


def without_globex(spec: SharePackSpec) -> SharePackSpec:
    """The pack without one of its recipients (and its grants): a narrower configuration."""
    shares = tuple(
        dataclasses.replace(s, recipients=tuple(r for r in s.recipients if r != "globex_lakehouse"))
        for s in spec.shares
    )
    recipients = tuple(r for r in spec.recipients if r.name != "globex_lakehouse")
    return dataclasses.replace(spec, recipients=recipients, shares=shares)


def test_a_failed_pack_offers_retry_and_the_retry_is_queued(
    client: FlaskClient, session_factory: sessionmaker[Session], publisher: RecordingPublisher
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.FAILED, "TABLE_DOES_NOT_EXIST: finance.ledger.entries")
    sign_in(client)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert ">Retry</button>" in page
    assert ">Reconcile drift</button>" not in page  # no drift found

    queued_before = len(publisher.notified)
    message = flashed(client, post(client, share_pack_id, "retry"))
    assert message.startswith("Queued for retry as version 3")
    assert len(publisher.notified) == queued_before + 1
    assert client.get(f"/console/packs/{share_pack_id}/progress").json["status"] == "IN_PROGRESS"


def test_a_post_checks_again_what_the_page_did_not_offer(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    sign_in(client)
    assert ">Retry</button>" not in client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    refused = post(client, share_pack_id, "retry")
    assert refused.status_code == 409
    assert "only a FAILED pack can be retried" in refused.get_data(as_text=True)
    assert post(client, share_pack_id, "rollback", to_version="x").status_code == 400
    assert post(client, share_pack_id, "rollback", to_version="2").status_code == 400  # v2: a status, not a config
    assert client.post(f"/console/packs/{share_pack_id}/retry").status_code == 400  # no CSRF token
    rotate = "recipients/{}/rotate-token"
    assert post(client, share_pack_id, rotate.format("nobody"), overlap_hours="1").status_code == 404
    assert post(client, share_pack_id, rotate.format("acme_analytics"), overlap_hours="x").status_code == 400
    assert post(client, share_pack_id, rotate.format("acme_analytics"), overlap_hours="9000").status_code == 400

    client.post("/console/sign-out", data={"csrf_token": csrf_of(client, "/console/packs")})
    sign_in(client, api_key=OUTSIDER_KEY)
    assert client.get(f"/console/packs/{share_pack_id}").status_code == 404
    for action, form in (("retry", {}), ("rollback", {"to_version": "1"}), ("reconcile", {})):
        assert post(client, share_pack_id, action, **form).status_code == 404, action
    assert client.get(f"/console/packs/{share_pack_id}/rollback?to_version=1").status_code == 404
    rotate = post(client, share_pack_id, "recipients/acme_analytics/rotate-token", overlap_hours="1")
    assert rotate.status_code == 404


def test_a_rollback_is_chosen_from_the_configuration_versions_and_queued(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    upload(client, without_globex(sample_share_pack()), share_pack_id)  # v3: the revision
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    sign_in(client)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    offered = re.search(r'<select id="rollback-version" name="to_version">(.*?)</select>', page).group(1)
    assert re.findall(r'<option value="(\d+)">', offered) == ["1"]  # not v2 (a status), not v3 (current)

    preview = client.get(f"/console/packs/{share_pack_id}/rollback?to_version=1")
    assert preview.status_code == 200
    shown = preview.get_data(as_text=True)
    assert "Roll back SharePack_" in shown and "to version 1</h1>" in shown
    # This app has no Databricks credentials: the preview says the worker will plan it.
    assert "Plan pending: no Databricks credentials are configured" in shown
    assert client.get(f"/console/packs/{share_pack_id}/rollback?to_version=2").status_code == 400
    assert client.get(f"/console/packs/{share_pack_id}/rollback").status_code == 400

    message = flashed(client, post(client, share_pack_id, "rollback", to_version="1"))
    assert message.startswith("Rollback to version 1 queued as version 5")
    timeline = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert "rollback to v1" in timeline


def test_a_rollback_that_widens_access_waits_for_an_approver(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    upload(client, without_globex(sample_share_pack()), share_pack_id)
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    with session_factory.begin() as session:  # the business line now wants every change approved
        pack = History(session, SharePack).current(uuid.UUID(share_pack_id))
        History(session, Tenant).change(
            pack.tenant_id, changed_by="tests", change_reason="approval always", approval_required="always"
        )
    sign_in(client)
    message = flashed(client, post(client, share_pack_id, "rollback", to_version="1"))
    assert "waits for an approver" in message
    assert client.get(f"/console/packs/{share_pack_id}/progress").json["status"] == "PENDING_APPROVAL"


def test_drift_is_summarised_and_reconciled(client: FlaskClient, session_factory: sessionmaker[Session]) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.COMPLETED)
    with session_factory.begin() as session:  # what the Databricks sync records when a table was removed by hand
        session.add(DriftFindingRow(
            workspace_url=LOCAL_WORKSPACE, share_pack_id=uuid.UUID(share_pack_id), entity="data_object",
            name="finance_ledger/finance.ledger.entries", kind="missing",
            expected={"name": "finance.ledger.entries"}, actual=None,
        ))
    sign_in(client)
    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert "found 1 change made outside this service" in page
    assert "data object finance_ledger/finance.ledger.entries: missing" in page

    message = flashed(client, post(client, share_pack_id, "reconcile"))
    assert message == "Reconcile queued: 1 drift finding will be put back."
    assert client.get(f"/console/packs/{share_pack_id}/progress").json["status"] == "IN_PROGRESS"


def test_production_needs_a_console_key_shared_by_every_process(app_factory: Callable[..., FlaskClient]) -> None:
    with pytest.raises(ConfigurationError, match="Missing setting console_secret_key"):
        app_factory(make_settings(deployment="production"))
    assert app_factory(make_settings(deployment="production", console_secret_key="k" * 64)).get(
        "/console/sign-in"
    ).status_code == 200
    with pytest.raises(ConfigurationError, match="Invalid setting deployment"):
        make_settings(deployment="staging")


def test_an_approver_who_sees_the_pack_gets_no_button_and_a_403(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    share_pack_id = upload(client, sample_share_pack())
    finish(session_factory, share_pack_id, SharePackStatus.FAILED, "TABLE_DOES_NOT_EXIST")
    admin = Access(Principal.from_api_key("tester", admins=frozenset({"tester"})), frozenset())
    put_local_group(session_factory, admin, "example-approvers", ["approver"])
    put_project(
        session_factory,
        admin,
        ProjectSpec(
            EXAMPLE_BUSINESS_LINE,
            sample_share_pack().metadata.project_name,
            approver_groups=["example-approvers"],
            configurator_groups=[],
        ),
    )
    sign_in(client, api_key=APPROVER_KEY)
    page = client.get(f"/console/packs/{share_pack_id}")
    assert page.status_code == 200
    assert 'id="actions-heading"' not in page.get_data(as_text=True)
    for action, form in (("retry", {}), ("rollback", {"to_version": "1"})):
        refused = post(client, share_pack_id, action, **form)
        assert refused.status_code == 403, action
        assert "may upload share packs" in refused.get_data(as_text=True)
    assert client.get(f"/console/packs/{share_pack_id}/rollback?to_version=1").status_code == 403
    refused = post(client, share_pack_id, "reconcile")
    assert refused.status_code == 403
    assert "may reconcile its share packs" in refused.get_data(as_text=True)
