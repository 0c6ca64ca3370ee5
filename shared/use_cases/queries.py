"""Reading share packs back: current status, full history, the provisioning plan, and filtered listings."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.history import History
from shared.models import SharePack

_ECHOED_ID_CHARS = 40  # a UUID is 36: enough to recognise a typo, never a caller's megabyte echoed back


def parse_share_pack_id(raw: str) -> uuid.UUID:
    """A share pack id from a URL; malformed ids are simply not found (callers cannot tell them apart)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        shown = raw if len(raw) <= _ECHOED_ID_CHARS else raw[:_ECHOED_ID_CHARS] + "…"
        raise NotFound(f"Share pack {shown!r} not found") from None


def get_share_pack(
    session: Session, share_pack_id: uuid.UUID, *, workspace_url: str | None = None
) -> SharePack:
    """The current version of a share pack; NotFound if unknown (or if it belongs to another workspace)."""
    row = History(session, SharePack).current(share_pack_id)
    if row is None or (workspace_url is not None and row.workspace_url != workspace_url):
        raise NotFound(f"Share pack {share_pack_id} not found")
    return row


def share_pack_history(
    session: Session, share_pack_id: uuid.UUID, *, workspace_url: str | None = None
) -> list[SharePack]:
    """Every version of a share pack, oldest first."""
    current = get_share_pack(session, share_pack_id, workspace_url=workspace_url)
    return History(session, SharePack).history(current.share_pack_id)


@dataclass(frozen=True)
class SharePackPage:
    items: list[SharePack]
    total: int
    page: int
    page_size: int


def list_share_packs(
    session: Session,
    *,
    workspace_url: str | None = None,
    status: str | None = None,
    requested_by: str | None = None,
    project: str | None = None,
    page: int = 1,
    page_size: int = 50,
    tenant_ids: Collection[uuid.UUID] | None = None,
) -> SharePackPage:
    """Current share packs matching the filters, newest first, one page at a time.

    `tenant_ids` limits the listing to packs of those tenants (what the caller may see); None: no limit.
    """
    conditions = [SharePack.is_current]
    if tenant_ids is not None:
        conditions.append(SharePack.tenant_id.in_(list(tenant_ids)))
    if workspace_url:
        conditions.append(SharePack.workspace_url == workspace_url)
    if status:
        conditions.append(SharePack.share_pack_status == status.upper())
    if requested_by:
        conditions.append(func.lower(SharePack.requested_by) == requested_by.lower())
    if project:
        conditions.append(func.lower(SharePack.project_name) == project.lower())
    total = session.scalar(select(func.count()).select_from(SharePack).where(*conditions)) or 0
    items = list(
        session.scalars(
            select(SharePack)
            .where(*conditions)
            .order_by(SharePack.created_at.desc(), SharePack.share_pack_id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    return SharePackPage(items=items, total=total, page=page, page_size=page_size)
