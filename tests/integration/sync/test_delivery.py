"""Notification delivery over real SMTP (aiosmtpd): sent once, retried with back-off, FAILED with the reason."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from shared.models import ActivationLinkCiphertext, Notification, NotificationDelivery
from shared.notifications.activation_links import store_activation_link
from shared.notifications.delivery import message_id_for, retry_delay, status_history
from shared.notifications.smtp import SmtpTransport
from shared.platform.status import NotificationStatus, NotificationType
from tests.integration.sync.conftest import SENDER

LINK = "https://emulator.example/delta-sharing/retrieve_config.html?token-abc123"


def _statuses(session, notification_id: uuid.UUID) -> list[str]:
    return [change.status for change in status_history(session, notification_id)]


def test_a_pending_notification_is_mailed_once_with_text_and_html(
    make_deliverer, add_notification, smtp_server, session
):
    notification_id = add_notification(body="Share pack orders-pack: 2 shares, 1 recipient")

    counts = make_deliverer().deliver_due()

    assert (counts.attempted, counts.sent, counts.failed) == (1, 1, 0)
    [message] = smtp_server.mailbox.wait_for(1)
    assert message["To"] == "requestor@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "orders-pack completed"
    assert message["Message-ID"] == message_id_for(notification_id, SENDER) == f"<{notification_id}@workflow.example>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "2 shares, 1 recipient" in text and "2 shares, 1 recipient" in html
    stored = session.get(Notification, notification_id)
    assert stored.status == NotificationStatus.SENT and stored.sent_at is not None
    assert _statuses(session, notification_id) == ["PENDING", "SENT"]
    # Nothing left to do: a second pass sends nothing.
    assert make_deliverer().deliver_due().attempted == 0
    assert len(smtp_server.mailbox.messages) == 1


def test_html_body_escapes_what_the_notification_says(make_deliverer, add_notification, smtp_server):
    add_notification(body="<script>alert(1)</script>")
    make_deliverer().deliver_due()
    [message] = smtp_server.mailbox.wait_for(1)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_transient_refusal_is_retried_and_the_message_sent_once(
    make_deliverer, add_notification, smtp_server, session
):
    notification_id = add_notification()
    smtp_server.mailbox.refuse_next(2, "451 4.3.0 Mailbox busy")

    counts = make_deliverer(max_attempts=5).deliver_due()

    assert (counts.attempted, counts.sent, counts.retrying) == (3, 1, 2)
    assert len(smtp_server.mailbox.wait_for(1)) == 1
    history = status_history(session, notification_id)
    assert [c.status for c in history] == ["PENDING", "PENDING", "PENDING", "SENT"]
    assert "451" in (history[1].error_message or "")
    assert session.get(NotificationDelivery, notification_id).attempts == 3


def test_after_max_attempts_the_notification_is_failed_with_the_smtp_error(
    make_deliverer, add_notification, smtp_server, session
):
    notification_id = add_notification()
    smtp_server.mailbox.refuse_next(3, "451 4.3.0 Mailbox busy")

    counts = make_deliverer(max_attempts=3).deliver_due()

    assert (counts.attempted, counts.sent, counts.failed) == (3, 0, 1)
    stored = session.get(Notification, notification_id)
    assert stored.status == NotificationStatus.FAILED
    assert stored.error_message == "SMTP 451 4.3.0 Mailbox busy"
    assert _statuses(session, notification_id) == ["PENDING", "PENDING", "PENDING", "FAILED"]
    assert smtp_server.mailbox.messages == []


def test_a_permanent_refusal_fails_at_once(make_deliverer, add_notification, smtp_server, session):
    notification_id = add_notification()
    smtp_server.mailbox.refuse_next(1, "554 5.6.0 Message rejected")

    counts = make_deliverer(max_attempts=5).deliver_due()

    assert (counts.attempted, counts.failed) == (1, 1)
    assert session.get(Notification, notification_id).error_message == "SMTP 554 5.6.0 Message rejected"


def test_an_unreachable_server_schedules_a_retry_with_back_off(make_deliverer, add_notification, session):
    from dev.devserver.ready import free_port

    notification_id = add_notification()
    closed = SmtpTransport("127.0.0.1", free_port(), timeout_seconds=2)

    counts = make_deliverer(transport=closed, retry_delay_seconds=60).deliver_due()

    assert (counts.attempted, counts.retrying) == (1, 1)
    delivery = session.get(NotificationDelivery, notification_id)
    assert "unavailable" in (delivery.last_error or "")
    assert session.get(Notification, notification_id).status == NotificationStatus.PENDING
    # Not due again before its back-off has passed.
    assert make_deliverer(transport=closed, retry_delay_seconds=60).deliver_due().attempted == 0


def test_retry_delay_doubles_and_is_capped():
    assert [retry_delay(n, 60).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert retry_delay(30, 60).total_seconds() == 3600


def test_a_notification_without_an_address_fails_with_the_reason(make_deliverer, add_notification, session):
    notification_id = add_notification(recipient_email=None)
    make_deliverer().deliver_due()
    stored = session.get(Notification, notification_id)
    assert stored.status == NotificationStatus.FAILED
    assert stored.error_message == "The notification has no recipient e-mail address"


class CrashBeforeRecording(BaseException):
    """Stands for the process dying after SMTP accepted the message but before the outcome was recorded."""


class CrashAfterSending:
    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport

    def send(self, message: EmailMessage) -> None:
        self.transport.send(message)
        raise CrashBeforeRecording


def test_a_crash_between_sending_and_recording_resends_with_the_same_message_id(
    make_deliverer, add_notification, smtp_server, session
):
    notification_id = add_notification()
    real = SmtpTransport(smtp_server.host, smtp_server.port, timeout_seconds=5)

    with pytest.raises(CrashBeforeRecording):
        make_deliverer(transport=CrashAfterSending(real)).deliver_due()
    assert session.get(NotificationDelivery, notification_id).sending_since is not None

    make_deliverer(transport=real).deliver_due()

    first, second = smtp_server.mailbox.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"] == message_id_for(notification_id, SENDER)
    session.expire_all()
    assert session.get(Notification, notification_id).status == NotificationStatus.SENT
    assert session.get(NotificationDelivery, notification_id).sending_since is None


def test_an_activation_link_is_decrypted_for_the_mail_then_deleted(
    make_deliverer, add_notification, smtp_server, session_factory, session, cipher
):
    notification_id = add_notification(
        notification_type=NotificationType.RECIPIENT_ACTIVATION,
        recipient_email="partner@example.org",
        subject="Your Delta Sharing access is ready",
        body="Recipient acme: activation link sent by e-mail",
    )
    with session_factory.begin() as s:
        store_activation_link(
            s,
            cipher,
            notification_id=notification_id,
            workspace_url="http://127.0.0.1:8001",
            recipient_name="acme",
            link=LINK,
        )
    stored = session.get(ActivationLinkCiphertext, notification_id)
    assert LINK.encode() not in stored.ciphertext

    make_deliverer().deliver_due()

    [message] = smtp_server.mailbox.wait_for(1)
    assert message["To"] == "partner@example.org"
    assert LINK in message.get_body(("plain",)).get_content()
    assert LINK in message.get_body(("html",)).get_content()
    session.expire_all()
    assert session.scalars(select(ActivationLinkCiphertext)).all() == []
    assert LINK not in session.get(Notification, notification_id).body


def test_an_activation_whose_link_is_gone_fails_and_says_how_to_reissue(make_deliverer, add_notification, session):
    notification_id = add_notification(notification_type=NotificationType.RECIPIENT_ACTIVATION)
    make_deliverer().deliver_due()
    stored = session.get(Notification, notification_id)
    assert stored.status == NotificationStatus.FAILED
    assert "rotate the recipient's token" in (stored.error_message or "")


def test_a_link_encrypted_under_a_retired_key_is_unreadable_and_deleted(
    make_deliverer, add_notification, session_factory, session
):
    from cryptography.fernet import Fernet

    from shared.notifications.activation_links import ActivationLinkCipher

    retired = ActivationLinkCipher([Fernet.generate_key().decode()])
    notification_id = add_notification(notification_type=NotificationType.RECIPIENT_ACTIVATION)
    with session_factory.begin() as s:
        store_activation_link(
            s, retired, notification_id=notification_id, workspace_url="http://x", recipient_name="a", link=LINK
        )
    make_deliverer().deliver_due()
    session.expire_all()
    assert session.get(Notification, notification_id).status == NotificationStatus.FAILED
    assert session.get(ActivationLinkCiphertext, notification_id) is None


def test_rotated_keys_still_decrypt_old_links():
    from cryptography.fernet import Fernet

    from shared.notifications.activation_links import ActivationLinkCipher

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ciphertext = ActivationLinkCipher([old]).encrypt(LINK)
    assert ActivationLinkCipher([new, old]).decrypt(ciphertext) == LINK


def test_deliveries_are_counted_by_type_and_result(make_deliverer, add_notification, smtp_server):
    from prometheus_client.registry import REGISTRY

    def count(result: str) -> float:
        labels = {"type": "PROVISION_SUCCESS", "result": result}
        return REGISTRY.get_sample_value("sharepack_notifications_total", labels) or 0.0

    before = {result: count(result) for result in ("sent", "failed")}
    add_notification()
    make_deliverer().deliver_due()
    add_notification()
    smtp_server.mailbox.refuse_next(1, "554 5.6.0 Message rejected")
    make_deliverer().deliver_due()

    assert {result: count(result) - before[result] for result in before} == {"sent": 1.0, "failed": 1.0}
