"""TOKEN_EXPIRY notices from the expiry times the workspace (emulator, real SDK) reports; once per threshold."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType
from sqlalchemy import select

from shared.models import Notification, Recipient
from shared.models.history import History
from shared.notifications.token_expiry import TokenExpiryWatch
from shared.platform.errors import ConfigurationError
from shared.provisioning.recipient_tokens import RecipientTokens

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def add_recipient(workspace_client: WorkspaceClient, session_factory, emulator):
    def add(name: str, *, expires_in_days: float, email: str | None = "data@acme.example.com") -> None:
        workspace_client.recipients.create(
            name, AuthenticationType.TOKEN, expiration_time=int(time.time() * 1000 + expires_in_days * DAY_MS)
        )
        with session_factory.begin() as session:
            History(session, Recipient).create(
                created_by="test",
                workspace_url=emulator.url,
                recipient_name=name,
                recipient_type="D2O",
                recipient_contact_email=email,
            )

    return add


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def notices(session) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.scalars(select(Notification).where(Notification.notification_type == "TOKEN_EXPIRY"))
    return sorted((n.recipient_email, n.subject) for n in rows)


def test_each_threshold_is_announced_once(add_recipient, workspace_client, session_factory, session):
    add_recipient("acme", expires_in_days=5)
    add_recipient("later", expires_in_days=60)
    clock = Clock()
    watch = TokenExpiryWatch(session_factory, lambda url: RecipientTokens(workspace_client), clock=clock)

    first = watch.queue_notices()
    again = watch.queue_notices()  # the job runs every minute: nothing new

    assert (first.checked, first.notices, again.notices) == (2, 1, 0)
    assert notices(session) == [("data@acme.example.com", "Delta Sharing token of acme expires in 7 day(s) or less")]

    clock.now += timedelta(days=3)  # 2 days left: the 7-day notice is out already, the 1-day one not due
    assert watch.queue_notices().notices == 0
    clock.now += timedelta(days=1, hours=12)  # half a day left
    assert watch.queue_notices().notices == 1
    assert len(notices(session)) == 2


def test_a_workspace_without_credentials_is_reported_and_the_run_goes_on(add_recipient, session_factory):
    add_recipient("acme", expires_in_days=5)

    def no_credentials(url: str) -> RecipientTokens:
        raise ConfigurationError(f"No Databricks credentials configured for {url}.")

    counts = TokenExpiryWatch(session_factory, no_credentials).queue_notices()

    assert (counts.checked, counts.failed) == (0, 1)
    assert "No Databricks credentials" in counts.failures[0]


def test_a_recipient_gone_from_the_workspace_is_skipped(session_factory, workspace_client, emulator, session):
    with session_factory.begin() as s:
        History(s, Recipient).create(
            created_by="test", workspace_url=emulator.url, recipient_name="gone", recipient_type="D2O"
        )
    counts = TokenExpiryWatch(session_factory, lambda url: RecipientTokens(workspace_client)).queue_notices()
    assert (counts.checked, counts.notices, counts.failed) == (1, 0, 0)


def test_after_a_rotation_only_the_new_token_counts(add_recipient, workspace_client, session_factory, session):
    add_recipient("acme", expires_in_days=60)
    workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=3600)

    counts = TokenExpiryWatch(session_factory, lambda url: RecipientTokens(workspace_client)).queue_notices()

    assert (counts.checked, counts.notices) == (1, 0)  # the old token ends in an hour, as the rotation asked
