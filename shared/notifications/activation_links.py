"""Activation links at rest: encrypted with MultiFernet under `activation_link_keys`, deleted once mailed.

A Delta Sharing activation link lets whoever opens it first download the recipient's bearer token
(https://docs.databricks.com/en/delta-sharing/create-recipient.html), so it is a credential. MultiFernet
encrypts with the first key and decrypts with any, so keys rotate by putting a new key first and removing
the old one once no ciphertext needs it (https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete
from sqlalchemy.orm import Session

from shared.models.logs import Notification
from shared.models.sync_runtime import ActivationLinkCiphertext
from shared.platform.errors import ConfigurationError
from shared.platform.status import NotificationStatus, NotificationType


class ActivationLinkUnreadable(Exception):
    """No configured key decrypts the stored link (its key was rotated out)."""


class ActivationLinkCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError(
                "Missing setting activation_link_keys: activation links are stored encrypted (make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, link: str) -> bytes:
        return self._fernet.encrypt(link.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise ActivationLinkUnreadable("no key in activation_link_keys decrypts this activation link") from None


def store_activation_link(
    session: Session,
    cipher: ActivationLinkCipher,
    *,
    notification_id: uuid.UUID,
    workspace_url: str,
    recipient_name: str,
    link: str,
) -> None:
    """Keep `link` encrypted until the ACTIVATION notification `notification_id` is mailed."""
    session.add(
        ActivationLinkCiphertext(
            notification_id=notification_id,
            workspace_url=workspace_url,
            recipient_name=recipient_name,
            ciphertext=cipher.encrypt(link),
        )
    )


def load_activation_link(session: Session, notification_id: uuid.UUID) -> ActivationLinkCiphertext | None:
    return session.get(ActivationLinkCiphertext, notification_id)


def forget_activation_link(session: Session, notification_id: uuid.UUID) -> None:
    """Delete the ciphertext: once mailed (or given up on) nobody can read the link back."""
    session.execute(delete(ActivationLinkCiphertext).where(ActivationLinkCiphertext.notification_id == notification_id))


@dataclass(frozen=True)
class Activation:
    """A D2O recipient's new activation link, for its contact (None: nobody to mail it to)."""

    workspace_url: str
    recipient_name: str
    recipient_email: str | None
    link: str = field(repr=False)  # a credential: kept out of logs


def record_activation(
    session: Session,
    cipher: ActivationLinkCipher | None,
    activation: Activation,
    *,
    about: tuple[str, uuid.UUID | None],
) -> Notification:
    """Queue the ACTIVATION e-mail of a D2O recipient: the notification says only that a link is sent; the
    link itself is stored encrypted beside it until the sync service mails it. ``about`` names the entity the
    notification belongs to (``("share_pack", id)`` or ``("recipient", id)``).

    Without `activation_link_keys` the link is dropped, not stored in plain text: the notification is FAILED
    with the reason, and an operator re-issues the link by rotating the token once keys are configured.
    """
    related_entity_type, related_entity_id = about
    notification = Notification(
        notification_type=NotificationType.RECIPIENT_ACTIVATION,
        recipient_email=activation.recipient_email,
        subject=f"Your Delta Sharing access to {activation.workspace_url} is ready",
        body=f"Recipient {activation.recipient_name}: activation link sent by e-mail (never stored in plain text)",
        related_entity_type=related_entity_type,
        related_entity_id=related_entity_id,
        status=NotificationStatus.PENDING if cipher else NotificationStatus.FAILED,
        error_message=None if cipher else "activation_link_keys is not configured: the link was not stored",
    )
    session.add(notification)
    session.flush()
    if cipher:
        store_activation_link(
            session,
            cipher,
            notification_id=notification.notification_id,
            workspace_url=activation.workspace_url,
            recipient_name=activation.recipient_name,
            link=activation.link,
        )
    return notification
