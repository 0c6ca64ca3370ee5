"""Sync tests run against the suite's PostgreSQL and a real aiosmtpd server (tests/support/smtp.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Notification
from shared.notifications.activation_links import ActivationLinkCipher
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.platform.status import NotificationType
from tests.support.smtp import SmtpServer

SENDER = "sharepack@workflow.example"


@pytest.fixture
def cipher() -> ActivationLinkCipher:
    return ActivationLinkCipher([Fernet.generate_key().decode()])


@pytest.fixture
def make_deliverer(
    session_factory: sessionmaker[Session], smtp_server: SmtpServer, cipher: ActivationLinkCipher
) -> Callable[..., NotificationDeliverer]:
    def build(**overrides: object) -> NotificationDeliverer:
        options: dict = {
            "session_factory": session_factory,
            "transport": SmtpTransport(smtp_server.host, smtp_server.port, timeout_seconds=5),
            "sender": SENDER,
            "cipher": cipher,
            "max_attempts": 3,
            "retry_delay_seconds": 0,
            **overrides,
        }
        return NotificationDeliverer(**options)

    return build


@pytest.fixture
def add_notification(session_factory: sessionmaker[Session]) -> Callable[..., uuid.UUID]:
    def add(
        notification_type: str = NotificationType.PROVISION_SUCCESS,
        recipient_email: str | None = "requestor@example.com",
        subject: str = "orders-pack completed",
        body: str = "All 3 steps done",
    ) -> uuid.UUID:
        with session_factory.begin() as session:
            row = Notification(
                notification_type=notification_type,
                recipient_email=recipient_email,
                subject=subject,
                body=body,
                related_entity_type="share_pack",
                related_entity_id=uuid.uuid4(),
            )
            session.add(row)
            session.flush()
            return row.notification_id

    return add


# The API fixtures (an app on the rolled-back test transaction) for the sync routes' tests.
from tests.integration.api.conftest import app_factory, client, publisher, queue  # noqa: E402, F401
