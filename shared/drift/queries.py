"""Reading the drift the last Databricks sync found: per pack, and the packs that have any."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.access.policy import Visibility
from shared.drift.detect import DriftKind, Finding
from shared.models import DriftFindingRow, SharePack, SyncJob
from shared.platform.status import SyncStatus, SyncType


@dataclass(frozen=True)
class PackDrift:
    """A pack with drift: how many findings, and when the sync that found them ran."""

    share_pack_id: uuid.UUID
    share_pack_name: str
    findings: int
    detected_at: datetime


def pack_findings(session: Session, share_pack_id: uuid.UUID) -> list[Finding]:
    """Return the drift of one pack found by the last sync of its workspace (empty: none)."""
    rows = session.scalars(
        select(DriftFindingRow)
        .where(DriftFindingRow.share_pack_id == share_pack_id)
        .order_by(DriftFindingRow.entity, DriftFindingRow.name)
    )
    return [_finding(row) for row in rows]


def unowned_findings(session: Session, workspace_url: str) -> list[Finding]:
    """Return the recipients and shares of a workspace that no pack owns."""
    rows = session.scalars(
        select(DriftFindingRow)
        .where(DriftFindingRow.workspace_url == workspace_url, DriftFindingRow.share_pack_id.is_(None))
        .order_by(DriftFindingRow.entity, DriftFindingRow.name)
    )
    return [_finding(row) for row in rows]


def packs_with_drift(
    session: Session, workspace_url: str, *, visible: Visibility | None = None
) -> list[PackDrift]:
    """Return the workspace's packs with drift, most findings first (only those ``visible``, if given)."""
    query = (
        select(
            DriftFindingRow.share_pack_id,
            SharePack.share_pack_name,
            func.count().label("findings"),
            func.max(DriftFindingRow.detected_at).label("detected_at"),
        )
        .join(SharePack, (SharePack.share_pack_id == DriftFindingRow.share_pack_id) & SharePack.is_current)
        .where(DriftFindingRow.workspace_url == workspace_url)
        .group_by(DriftFindingRow.share_pack_id, SharePack.share_pack_name)
        .order_by(func.count().desc(), SharePack.share_pack_name)
    )
    if visible is not None:
        query = query.where(visible.where())
    rows = session.execute(query)
    return [PackDrift(r.share_pack_id, r.share_pack_name, r.findings, r.detected_at) for r in rows]


def last_sync(session: Session, workspace_url: str) -> datetime | None:
    """Return when the last completed Databricks sync of a workspace ended (None: never)."""
    return session.scalar(
        select(func.max(SyncJob.completed_at)).where(
            SyncJob.workspace_url == workspace_url,
            SyncJob.sync_type == SyncType.DATABRICKS_OBJECTS,
            SyncJob.status == SyncStatus.COMPLETED,
        )
    )


def _finding(row: DriftFindingRow) -> Finding:
    return Finding(row.share_pack_id, row.entity, row.name, DriftKind(row.kind), row.expected, row.actual)
