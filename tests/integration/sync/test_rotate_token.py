"""POST /workflow/recipients/{name}/rotate-token against the workspace emulator over the real SDK."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType
from sqlalchemy import select

from shared.models import ActivationLinkCiphertext, AuditEntry, Notification, Recipient
from shared.models.history import History
from shared.provisioning.recipient_tokens import RecipientTokens
from tests.integration.api.conftest import API_KEY, make_settings


@pytest.fixture
def rotating_client(app_factory, emulator, workspace_client: WorkspaceClient, cipher, queue):
    settings = make_settings(dev_workspace_urls=emulator.url, azure_queue_name=queue.name)
    return app_factory(
        settings, recipient_tokens=lambda url: RecipientTokens(workspace_client), activation_links=cipher
    )


@pytest.fixture
def headers(emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": emulator.url}


@pytest.fixture
def acme(workspace_client: WorkspaceClient, session_factory, emulator) -> str:
    workspace_client.recipients.create("acme", AuthenticationType.TOKEN)
    with session_factory.begin() as session:
        History(session, Recipient).create(
            created_by="test",
            workspace_url=emulator.url,
            recipient_name="acme",
            recipient_type="D2O",
            recipient_contact_email="data@acme.example.com",
        )
    return "acme"


def test_rotation_keeps_the_old_token_for_the_overlap_and_queues_the_new_link(
    rotating_client, headers, acme, workspace_client, session, cipher
):
    before_ms = int(time.time() * 1000)
    response = rotating_client.post(
        f"/workflow/recipients/{acme}/rotate-token", json={"ExistingTokenExpiresInSeconds": 3600}, headers=headers
    )

    assert response.status_code == 200, response.json
    tokens = sorted(workspace_client.recipients.get(acme).tokens, key=lambda t: t.created_at)
    assert len(tokens) == 2
    assert before_ms + 3_590_000 <= tokens[0].expiration_time <= before_ms + 3_700_000
    new_link = tokens[1].activation_url
    assert new_link and new_link not in response.get_data(as_text=True)

    notification = session.get(Notification, response.json["NotificationId"])
    assert notification.notification_type == "RECIPIENT_ACTIVATION"
    assert notification.recipient_email == "data@acme.example.com" and new_link not in notification.body
    stored = session.get(ActivationLinkCiphertext, notification.notification_id)
    assert cipher.decrypt(stored.ciphertext) == new_link
    [audit] = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "recipient")).all()
    assert audit.new_values["token_rotated"] is True and new_link not in str(audit.new_values)
    [current] = History(session, Recipient).find_current(recipient_name=acme)
    assert current.version == 2 and current.token_rotation is True


def test_a_second_rotation_while_two_tokens_live_is_409(rotating_client, headers, acme):
    body = {"ExistingTokenExpiresInSeconds": 3600}
    assert (
        rotating_client.post(f"/workflow/recipients/{acme}/rotate-token", json=body, headers=headers).status_code == 200
    )
    again = rotating_client.post(f"/workflow/recipients/{acme}/rotate-token", json=body, headers=headers)
    assert again.status_code == 409
    assert "two active tokens" in again.json["Message"]


@pytest.mark.parametrize(
    "body", [{}, {"ExistingTokenExpiresInSeconds": -1}, {"ExistingTokenExpiresInSeconds": "soon"}, [1]]
)
def test_a_bad_body_is_refused(rotating_client, headers, acme, body):
    response = rotating_client.post(f"/workflow/recipients/{acme}/rotate-token", json=body, headers=headers)
    assert response.status_code == 400


def test_an_unknown_recipient_is_404_and_credentials_are_required(rotating_client, headers):
    body = {"ExistingTokenExpiresInSeconds": 0}
    assert (
        rotating_client.post("/workflow/recipients/nobody/rotate-token", json=body, headers=headers).status_code == 404
    )
    no_auth = {"X-Workspace-URL": headers["X-Workspace-URL"]}
    assert (
        rotating_client.post("/workflow/recipients/nobody/rotate-token", json=body, headers=no_auth).status_code == 401
    )


def test_without_databricks_credentials_rotation_is_503(app_factory, emulator, headers, acme, queue):
    client = app_factory(make_settings(dev_workspace_urls=emulator.url, azure_queue_name=queue.name))
    response = client.post(
        f"/workflow/recipients/{acme}/rotate-token", json={"ExistingTokenExpiresInSeconds": 0}, headers=headers
    )
    assert response.status_code == 503


def test_a_pack_asking_for_a_token_longer_than_the_maximum_is_refused(app_factory, queue):
    content = (Path(__file__).resolve().parents[3] / "examples" / "sample_sharepack.yaml").read_bytes()
    assert b"token_expiry_days: 90" in content
    client = app_factory(make_settings(azure_queue_name=queue.name, token_expiry_max_days="30"))
    response = client.post(
        "/workflow/sharepack/upload",
        data={"file": (io.BytesIO(content), "pack.yaml")},
        headers={"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": "http://127.0.0.1:8001"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    [error] = response.json["ValidationErrors"]
    assert "above this deployment's maximum of 30 days" in str(error)


def test_a_caller_who_does_not_configure_the_owning_project_may_not_rotate(
    app_factory, emulator, workspace_client: WorkspaceClient, cipher, queue, acme
):
    settings = make_settings(
        dev_workspace_urls=emulator.url, azure_queue_name=queue.name,
        api_keys=f"tester={API_KEY},someone=someone-key-0123456789abcdef01234",
    )
    outsider = app_factory(
        settings, recipient_tokens=lambda url: RecipientTokens(workspace_client), activation_links=cipher
    )
    tokens_before = len(workspace_client.recipients.get(acme).tokens or [])

    response = outsider.post(
        f"/workflow/recipients/{acme}/rotate-token",
        json={"ExistingTokenExpiresInSeconds": 3600},
        headers={"Authorization": "Bearer someone-key-0123456789abcdef01234", "X-Workspace-URL": emulator.url},
    )

    assert response.status_code == 403, response.json
    assert len(workspace_client.recipients.get(acme).tokens or []) == tokens_before  # nothing rotated
