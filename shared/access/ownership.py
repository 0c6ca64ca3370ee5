"""Ownership of Databricks objects: a pack may create, adopt, change or delete only its own project's objects.

Checked before planning, so the plan (which callers can read) never describes another project's object, and
a conflict names the object without echoing its definition (IPs, comments, e-mails) to someone who does not
own it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Recipient, Share
from shared.provisioning.workspace_state import WorkspaceState
from shared.share_pack_file import SharePackSpec

OUT_OF_BAND = "created outside this service; an administrator can import it into a project"
FOREIGN = "owned by another project"


@dataclass(frozen=True)
class Owners:
    """The owning project of each recipient and share this service has recorded in one workspace."""

    recipients: Mapping[str, uuid.UUID | None]
    shares: Mapping[str, uuid.UUID | None]


def recorded_owners(session: Session, spec: SharePackSpec, workspace_url: str) -> Owners:
    """Owners of the recipients and shares a pack names, from their current rows."""
    recipient_names = [r.name for r in spec.recipients]
    share_names = [s.name for s in spec.shares]
    recipients = session.execute(
        select(Recipient.recipient_name, Recipient.project_id).where(
            Recipient.is_current,
            ~Recipient.is_deleted,
            Recipient.workspace_url == workspace_url,
            Recipient.recipient_name.in_(recipient_names),
        )
    ).all()
    shares = session.execute(
        select(Share.share_name, Share.project_id).where(
            Share.is_current, ~Share.is_deleted, Share.workspace_url == workspace_url, Share.share_name.in_(share_names)
        )
    ).all()
    return Owners(recipients=dict(recipients), shares=dict(shares))


def ownership_conflicts(
    spec: SharePackSpec, actual: WorkspaceState, owners: Owners, project_id: uuid.UUID
) -> list[str]:
    """One sentence per existing object the pack names but its project does not own (empty: all clear)."""
    conflicts: list[str] = []
    for recipient in spec.recipients:
        if recipient.name in actual.recipients:
            conflicts.extend(_refusal("recipient", recipient.name, owners.recipients, project_id))
    for share in spec.shares:
        if share.name in actual.shares:
            conflicts.extend(_refusal("share", share.name, owners.shares, project_id))
    return conflicts


def _refusal(kind: str, name: str, owners: Mapping[str, uuid.UUID | None], project_id: uuid.UUID) -> list[str]:
    owner = owners.get(name)
    if owner == project_id:
        return []
    return [f"{kind} {name} exists and is {OUT_OF_BAND if owner is None else FOREIGN}"]
