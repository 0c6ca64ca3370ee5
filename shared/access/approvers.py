"""Telling a project's approvers that a share pack waits for them (APPROVAL_REQUIRED notifications)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.models import AdGroup, Notification, Project, SharePack
from shared.platform.status import NotificationType


def approver_emails(session: Session, project: Project | None) -> list[str]:
    """The e-mail-shaped members of the project's approver groups (named by group name or directory id)."""
    return member_emails(session, (project.approver if project else None) or [])


def member_emails(session: Session, named: list[object]) -> list[str]:
    """The e-mail-shaped members of the groups ``named`` (by group name or directory id)."""
    groups = [g.lower() for g in named if isinstance(g, str)]
    if not groups:
        return []
    rows = session.scalars(
        select(AdGroup.members).where(
            AdGroup.is_current,
            ~AdGroup.is_deleted,
            or_(func.lower(AdGroup.group_name).in_(groups), func.lower(AdGroup.ad_object_id).in_(groups)),
        )
    )
    members = {m.strip().lower() for row in rows for m in row or [] if isinstance(m, str) and "@" in m}
    return sorted(members)


def notify_approvers(session: Session, pack: SharePack) -> int:
    """Queue one APPROVAL_REQUIRED mail per approver of the pack's project (the sync service sends them)."""
    project = session.scalars(
        select(Project).where(Project.project_id == pack.project_id, Project.is_current)
    ).one_or_none()
    emails = [e for e in approver_emails(session, project) if e != (pack.requested_by or "").lower()]
    for email in emails:
        session.add(
            Notification(
                notification_type=NotificationType.APPROVAL_REQUIRED,
                recipient_email=email,
                subject=f"{pack.share_pack_name} waits for your approval",
                body=(
                    f"{pack.requested_by} asks to provision share pack {pack.share_pack_name} "
                    f"({pack.strategy}) on {pack.workspace_url}. Review its plan, then approve or decline it: "
                    f"POST /workflow/sharepack/{pack.share_pack_id}/approve or /decline."
                ),
                related_entity_type="share_pack",
                related_entity_id=pack.share_pack_id,
            )
        )
    return len(emails)
