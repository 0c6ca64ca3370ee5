"""Deliver PENDING notifications by e-mail: each one at most once per attempt, eventually exactly once.

For each due notification:

1. **Claim** (committed before sending): count the attempt, set `sending_since`, fix the Message-ID.
2. **Send** over SMTP.
3. **Record** the outcome: SENT; or FAILED (a permanent error, or the last allowed attempt); or a retry
   after a back-off that doubles each attempt.

A crash between 2 and 3 leaves `sending_since` set; the next run sends again with the same Message-ID,
which mail systems treat as the same message (RFC 5322 §3.6.4), so the reader sees it once. Only one sync
run sends at a time (the job holds an advisory lock), and rows are taken `FOR UPDATE SKIP LOCKED` anyway.

The text stored in `notifications` is the log of what was sent; an activation link is never in it: it is
decrypted from `workflow_runtime.activation_links` just for the message, then deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.models.logs import Notification
from shared.models.sync_runtime import NotificationDelivery, NotificationEvent
from shared.notifications.activation_links import (
    ActivationLinkCipher,
    ActivationLinkUnreadable,
    forget_activation_link,
    load_activation_link,
)
from shared.notifications.render import EmailTemplates
from shared.notifications.smtp import DeliveryFailed
from shared.platform import metrics
from shared.platform.logging import get_logger
from shared.platform.status import NotificationStatus, NotificationType

log = get_logger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass
class DeliveryCounts:
    """What one delivery pass did."""

    attempted: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StatusChange:
    """One entry of a notification's status history."""

    status: str
    at: datetime
    attempt: int
    error_message: str | None


def message_id_for(notification_id: uuid.UUID, sender: str) -> str:
    """The Message-ID of a notification: the same on every attempt (RFC 5322 §3.6.4 msg-id syntax)."""
    domain = sender.rpartition("@")[2] or "sharepack-workflow"
    return f"<{notification_id}@{domain}>"


def retry_delay(attempt: int, base_seconds: int) -> timedelta:
    """Exponential back-off: base, 2x base, 4x base, ... capped at an hour."""
    return min(timedelta(seconds=base_seconds * 2 ** max(attempt - 1, 0)), MAX_RETRY_DELAY)


@dataclass
class NotificationDeliverer:
    session_factory: sessionmaker[Session]
    transport: Transport
    sender: str
    cipher: ActivationLinkCipher | None
    max_attempts: int
    retry_delay_seconds: int
    templates: EmailTemplates = field(default_factory=EmailTemplates)
    batch_size: int = 50
    console_base_url: str | None = None  # mails about a pack link to its console page under it

    def deliver_due(self, should_stop: Callable[[], bool] = lambda: False) -> DeliveryCounts:
        """Deliver every notification that is due now, until none is left or `should_stop()`."""
        counts = DeliveryCounts()
        while not should_stop():
            due = self._due_ids()
            attempted_before = counts.attempted
            for notification_id in due:
                if should_stop():
                    break
                self._deliver_one(notification_id, counts)
            if counts.attempted == attempted_before:  # nothing due, or all of it locked by someone else
                break
        return counts

    def _due_ids(self) -> list[uuid.UUID]:
        with self.session_factory() as session:
            query = (
                select(Notification.notification_id)
                .outerjoin(NotificationDelivery, NotificationDelivery.notification_id == Notification.notification_id)
                .where(Notification.status == NotificationStatus.PENDING)
                .where(
                    (NotificationDelivery.next_attempt_at.is_(None))
                    | (NotificationDelivery.next_attempt_at <= func.now())
                )
                .order_by(Notification.created_at)
                .limit(self.batch_size)
            )
            return list(session.scalars(query))

    def _deliver_one(self, notification_id: uuid.UUID, counts: DeliveryCounts) -> None:
        claim = self._claim(notification_id)
        if claim is None:
            return
        attempt, notification_type, composed = claim
        counts.attempted += 1
        try:
            if isinstance(composed, DeliveryFailed):  # cannot even be composed (no address, no readable link)
                raise composed
            self.transport.send(composed)
        except DeliveryFailed as exc:
            final = self._record_failure(
                notification_id, attempt=attempt, error=exc.message, permanent=exc.permanent, counts=counts
            )
            metrics.NOTIFICATIONS.labels(type=notification_type, result="failed" if final else "retrying").inc()
            return
        self._record_sent(notification_id, attempt)
        metrics.NOTIFICATIONS.labels(type=notification_type, result="sent").inc()
        counts.sent += 1

    def _claim(self, notification_id: uuid.UUID) -> tuple[int, str, EmailMessage | DeliveryFailed] | None:
        """Count the attempt and compose the message, committed before anything is sent (None: not ours)."""
        with self.session_factory.begin() as session:
            notification = session.scalars(
                select(Notification)
                .where(Notification.notification_id == notification_id)
                .where(Notification.status == NotificationStatus.PENDING)
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if notification is None:  # another sender has it, or it is no longer PENDING
                return None
            message_id = message_id_for(notification_id, self.sender)
            attempt = session.scalar(
                insert(NotificationDelivery)
                .values(notification_id=notification_id, message_id=message_id, attempts=1, sending_since=func.now())
                .on_conflict_do_update(
                    index_elements=[NotificationDelivery.notification_id],
                    set_={"attempts": NotificationDelivery.attempts + 1, "sending_since": func.now()},
                )
                .returning(NotificationDelivery.attempts)
            )
            assert attempt is not None
            notification_type = str(notification.notification_type)
            try:
                return attempt, notification_type, self._compose(session, notification, message_id)
            except DeliveryFailed as exc:
                return attempt, notification_type, exc

    def _compose(self, session: Session, notification: Notification, message_id: str) -> EmailMessage:
        if not notification.recipient_email:
            raise DeliveryFailed("The notification has no recipient e-mail address", permanent=True)
        context: dict[str, str] = {"body": notification.body, "pack_url": ""}
        if notification.notification_type == NotificationType.RECIPIENT_ACTIVATION:
            context.update(self._activation_context(session, notification.notification_id))
        if notification.related_entity_type == "share_pack" and self.console_base_url:
            context["pack_url"] = f"{self.console_base_url}/console/packs/{notification.related_entity_id}"
        rendered = self.templates.render(notification.notification_type, subject=notification.subject, **context)
        message = EmailMessage()
        message["Subject"] = rendered.subject
        message["From"] = self.sender
        message["To"] = notification.recipient_email
        message["Message-ID"] = message_id
        message["Date"] = formatdate(usegmt=True)
        message["X-Notification-Type"] = notification.notification_type
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message

    def _activation_context(self, session: Session, notification_id: uuid.UUID) -> dict[str, str]:
        stored = load_activation_link(session, notification_id)
        if stored is None:
            raise DeliveryFailed(
                "The activation link is no longer stored; rotate the recipient's token to issue a new one",
                permanent=True,
            )
        if self.cipher is None:
            raise DeliveryFailed("activation_link_keys is not configured; cannot decrypt the link", permanent=False)
        try:
            link = self.cipher.decrypt(stored.ciphertext)
        except ActivationLinkUnreadable as exc:
            raise DeliveryFailed(str(exc), permanent=True) from None
        return {"activation_link": link, "recipient_name": stored.recipient_name, "workspace_url": stored.workspace_url}

    def _record_sent(self, notification_id: uuid.UUID, attempt: int) -> None:
        with self.session_factory.begin() as session:
            session.execute(
                update(Notification)
                .where(Notification.notification_id == notification_id)
                .values(status=NotificationStatus.SENT, sent_at=func.now(), error_message=None)
            )
            self._settle(session, notification_id, next_attempt_at=None, error=None)
            session.add(
                NotificationEvent(notification_id=notification_id, status=NotificationStatus.SENT, attempt=attempt)
            )
            forget_activation_link(session, notification_id)
        log.info("notification.sent", notification_id=str(notification_id), attempt=attempt)

    def _record_failure(
        self, notification_id: uuid.UUID, *, attempt: int, error: str, permanent: bool, counts: DeliveryCounts
    ) -> bool:
        """Record a failed attempt; True when it was the last (FAILED), False when a retry is scheduled."""
        final = permanent or attempt >= self.max_attempts
        with self.session_factory.begin() as session:
            if final:
                session.execute(
                    update(Notification)
                    .where(Notification.notification_id == notification_id)
                    .values(status=NotificationStatus.FAILED, error_message=error)
                )
                self._settle(session, notification_id, next_attempt_at=None, error=error)
                forget_activation_link(session, notification_id)  # undeliverable: it expires with its token
            else:
                delay = retry_delay(attempt, self.retry_delay_seconds)
                self._settle(session, notification_id, next_attempt_at=func.now() + delay, error=error)
            session.add(
                NotificationEvent(
                    notification_id=notification_id,
                    status=NotificationStatus.FAILED if final else NotificationStatus.PENDING,
                    attempt=attempt,
                    error_message=error,
                )
            )
        if final:
            counts.failed += 1
            counts.failures.append(f"{notification_id}: {error}")
            log.warning("notification.failed", notification_id=str(notification_id), attempt=attempt, error=error)
        else:
            counts.retrying += 1
            log.info("notification.retry_scheduled", notification_id=str(notification_id), attempt=attempt, error=error)
        return final

    @staticmethod
    def _settle(session: Session, notification_id: uuid.UUID, *, next_attempt_at: object, error: str | None) -> None:
        values: dict[str, object] = {"sending_since": None, "last_error": error}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        session.execute(
            update(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id).values(**values)
        )


def status_history(session: Session, notification_id: uuid.UUID) -> list[StatusChange]:
    """PENDING when created, then one entry per attempt's outcome (PENDING again means a retry is scheduled)."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        return []
    events = session.scalars(
        select(NotificationEvent)
        .where(NotificationEvent.notification_id == notification_id)
        .order_by(NotificationEvent.event_id)
    )
    return [
        StatusChange(status=NotificationStatus.PENDING, at=notification.created_at, attempt=0, error_message=None),
        *(
            StatusChange(status=e.status, at=e.occurred_at, attempt=e.attempt, error_message=e.error_message)
            for e in events
        ),
    ]
