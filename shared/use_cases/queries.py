"""Reading share packs back: current status, full history, the provisioning plan, and filtered listings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.orm import Session

from shared.access.policy import Visibility
from shared.models import SharePack
from shared.models.history import History
from shared.platform.errors import NotFound
from shared.platform.pagination import Page, paginate

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


SharePackPage = Page[SharePack]


@dataclass(frozen=True)
class SharePackQuery:
    """Which current share packs a listing asks for (every filter optional, names case-insensitive) and which page."""

    workspace_url: str | None = None
    status: str | None = None
    requested_by: str | None = None
    project: str | None = None
    page: int = 1
    page_size: int = 50


def list_share_packs(
    session: Session, query: SharePackQuery, *, visible: Visibility | None = None
) -> SharePackPage:
    """Current share packs matching the query, newest first, one page at a time.

    `visible` limits the listing to the packs the caller may see (`Access.visible`); None: no limit.
    """
    conditions = [SharePack.is_current]
    if visible is not None:
        conditions.append(visible.where())
    if query.workspace_url:
        conditions.append(SharePack.workspace_url == query.workspace_url)
    if query.status:
        conditions.append(SharePack.share_pack_status == query.status.upper())
    if query.requested_by:
        conditions.append(func.lower(SharePack.requested_by) == query.requested_by.lower())
    if query.project:
        conditions.append(func.lower(SharePack.project_name) == query.project.lower())
    return paginate(
        session,
        SharePack,
        conditions,
        order_by=(SharePack.created_at.desc(), SharePack.share_pack_id),
        page=query.page,
        page_size=query.page_size,
    )
