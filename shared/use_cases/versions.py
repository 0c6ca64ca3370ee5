"""A pack's next version: the one place that writes it, audits it and queues it (or tells its approvers).

Every move of the `Workflow` (submit, revise, retry, rollback, approve, reconcile, revoke) steps a pack
through `next_version`, and so does the worker's stuck-pack sweeper through `Requeuer`. The sweeper's path
lives here rather than in `transitions.py` so that the worker process, which re-queues but takes no uploads,
never loads the upload validation and pre-flight that the other moves need.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.access.approvers import notify_approvers
from shared.models import SharePack
from shared.models.history import History, audit
from shared.platform import tracing
from shared.platform.errors import Conflict
from shared.platform.logging import get_logger
from shared.platform.status import AuditAction, SharePackStatus
from shared.queue.messages import ProvisionSharePack
from shared.use_cases.moves import Asker
from shared.use_cases.publishing import Dispatch

log = get_logger(__name__)

REQUEUED = "stuck pack re-queued"


@dataclass(frozen=True)
class Move:
    """One move of a pack: its new version's reason and status, and what its audit row says."""

    reason: str
    action: AuditAction
    status: SharePackStatus
    provisioning_status: str
    #: Columns of the new version besides its status (a new configuration, its strategy, ...).
    columns: Mapping[str, Any] = field(default_factory=dict)
    #: What the audit row adds to the version, status and reason it always records.
    note: Mapping[str, Any] = field(default_factory=dict)


def next_version(session: Session, asker: Asker, pack: SharePack, move: Move, dispatch: Dispatch) -> SharePack:
    """Write the pack's next version and its audit row; queue it, or tell its approvers it waits."""
    new = History(session, SharePack).change(
        pack.share_pack_id,
        changed_by=asker.identity,
        change_reason=move.reason,
        expected_version=pack.version,  # a concurrent move gets a Conflict, not a second outcome
        share_pack_status=move.status,
        provisioning_status="Waiting for an approver"
        if move.status == SharePackStatus.PENDING_APPROVAL else move.provisioning_status,
        error_message=None,
        **move.columns,
    )
    audit(
        session, ("share_pack", pack.share_pack_id), move.action, by=asker.identity,
        old={"version": pack.version, "share_pack_status": pack.share_pack_status,
             "provisioning_status": pack.provisioning_status},
        new={"version": new.version, "share_pack_status": new.share_pack_status,
             "provisioning_status": new.provisioning_status, "change_reason": move.reason, **move.note},
        request_id=asker.request_id,
    )
    forward(session, new, asker.request_id, dispatch)
    return new


def forward(session: Session, pack: SharePack, request_id: str | None, dispatch: Dispatch) -> None:
    """Put an IN_PROGRESS pack on the queue (its message is sent if the transaction commits); tell a waiting
    pack's approvers."""
    if pack.share_pack_status == SharePackStatus.PENDING_APPROVAL:
        notify_approvers(session, pack)
    elif pack.share_pack_status == SharePackStatus.IN_PROGRESS:
        message = ProvisionSharePack(pack.share_pack_id, request_id=request_id,
                                     traceparent=tracing.current_traceparent())
        dispatch.send(session, message)


@dataclass(frozen=True)
class Requeuer:
    """Queues a stuck pack again: the sweeper's one move, built by the worker's composition root."""

    dispatch: Dispatch

    def requeue(self, session: Session, share_pack_id: uuid.UUID, version: int, tool: str) -> int:
        """Queue again a pack IN_PROGRESS at ``version`` that nothing has touched for a while; return for how
        many seconds it was idle.

        Runs in the sweeper's transaction (which holds the pack's lock); its message is published when that
        transaction commits.

        Raises:
            Conflict: the pack changed since the sweeper looked.
        """
        pack = History(session, SharePack).get_current(share_pack_id)
        if pack.version != version:
            raise Conflict(f"Share pack {share_pack_id} changed since it was found idle")
        idle_seconds = int(session.scalar(select(func.extract("epoch", func.now() - pack.effective_from))))
        asker = Asker(pack.workspace_url, request_id=f"sweep-{uuid.uuid4().hex[:12]}", tool=tool)
        next_version(session, asker, pack, Move(
            REQUEUED, AuditAction.UPDATED, SharePackStatus.IN_PROGRESS,
            f"Re-queued: no worker and no queued message for {idle_seconds} s",
            note={"requeued": True, "idle_seconds": idle_seconds},
        ), self.dispatch)
        log.warning("sweep.requeued", share_pack_id=str(share_pack_id), idle_seconds=idle_seconds,
                    request_id=asker.request_id)
        return idle_seconds
