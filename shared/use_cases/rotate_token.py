"""Rotate a D2O recipient's token: the workspace issues a new one, and its link is e-mailed like the first.

The existing token keeps working for the overlap the caller chose (Databricks never extends it), so the
partner can switch over. The new activation link is stored only encrypted until the sync service mails it;
the response, the history and the audit row say when the tokens expire, never the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from shared.models import Project, Recipient, Tenant
from shared.models.history import History, audit
from shared.notifications.activation_links import Activation, ActivationLinkCipher, record_activation
from shared.platform.errors import InvalidInput, NotFound
from shared.platform.status import AuditAction
from shared.provisioning.recipient_tokens import RecipientTokens


@dataclass(frozen=True)
class RecipientToRotate:
    """A recipient and the project (and its tenant) that owns it: their configurators may rotate its token."""

    recipient: Recipient
    project: Project | None
    tenant: Tenant | None


@dataclass(frozen=True)
class Rotation:
    recipient_name: str
    recipient_email: str | None
    notification_id: object
    new_token_expires_at: datetime | None
    existing_token_expires_at: datetime | None


def find_recipient_to_rotate(session: Session, *, workspace_url: str, name: str) -> RecipientToRotate:
    """The current D2O recipient `name` of the workspace, and its project (for the permission check)."""
    found = History(session, Recipient).find_current(workspace_url=workspace_url, recipient_name=name.lower())
    if not found:
        raise NotFound(f"Recipient {name!r} not found in {workspace_url}")
    recipient = found[0]
    if recipient.recipient_type != "D2O":
        raise InvalidInput(f"Recipient {name!r} is D2D: only D2O recipients have tokens to rotate")
    project = History(session, Project).current(recipient.project_id) if recipient.project_id else None
    tenant = History(session, Tenant).current(project.tenant_id) if project else None
    return RecipientToRotate(recipient=recipient, project=project, tenant=tenant)


def rotate_recipient_token(
    session_factory: sessionmaker[Session],
    tokens: RecipientTokens,
    cipher: ActivationLinkCipher,
    target: RecipientToRotate,
    *,
    existing_token_expires_in_seconds: int,
    performed_by: str,
    request_id: str | None,
) -> Rotation:
    """Rotate in the workspace, then record history, audit and the ACTIVATION notification in one transaction."""
    recipient = target.recipient
    rotated = tokens.rotate(
        recipient.recipient_name, existing_token_expires_in_seconds=existing_token_expires_in_seconds
    )
    expiries = {
        "existing_token_expires_at": _iso(rotated.existing_token_expires_at),
        "new_token_expires_at": _iso(rotated.new_token_expires_at),
    }
    with session_factory.begin() as session:
        History(session, Recipient).change(
            recipient.recipient_id,
            changed_by=performed_by,
            change_reason=f"token rotated (existing token expires in at most {existing_token_expires_in_seconds}s)",
            token_rotation=True,
        )
        audit(
            session, ("recipient", f"{recipient.workspace_url}/{recipient.recipient_name}"), AuditAction.UPDATED,
            by=performed_by, old={"token_rotation": recipient.token_rotation},
            new={"token_rotation": True, "token_rotated": True, **expiries}, request_id=request_id,
        )
        activation = Activation(
            recipient.workspace_url,
            recipient.recipient_name,
            recipient.recipient_contact_email,
            rotated.activation_link,
        )
        notification = record_activation(session, cipher, activation, about=("recipient", recipient.recipient_id))
    return Rotation(
        recipient_name=recipient.recipient_name,
        recipient_email=recipient.recipient_contact_email,
        notification_id=notification.notification_id,
        new_token_expires_at=rotated.new_token_expires_at,
        existing_token_expires_at=rotated.existing_token_expires_at,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
