"""Reconcile: put a workspace back to what a pack approved, by re-queuing the pack as an UPDATE of itself.

The pack's stored configuration is provisioned again (a NEW becomes an UPDATE: its objects exist and must
now be made to match; a DELETE stays a DELETE). The worker plans against what the workspace holds, so the
plan is exactly the drift: what was removed is added back, what was added out of band is removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from shared.drift.detect import Finding, reconcile_spec
from shared.drift.queries import pack_findings
from shared.errors import Conflict
from shared.history import History
from shared.logging import get_logger
from shared.models import AuditEntry, SharePack
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import add_to_outbox
from shared.share_pack_file import SharePackSpec
from shared.status import AuditAction, SharePackStatus
from shared.use_cases.queries import get_share_pack

log = get_logger(__name__)

#: A pack in flight is provisioned already; one that never passed validation has nothing approved to restore.
RECONCILABLE = frozenset({SharePackStatus.COMPLETED, SharePackStatus.FAILED})


@dataclass(frozen=True)
class Reconciliation:
    share_pack_id: uuid.UUID
    status: str
    strategy: str
    drift: list[Finding]


def reconcile_share_pack(
    session_factory: sessionmaker[Session],
    share_pack_id: uuid.UUID,
    *,
    workspace_url: str,
    requested_by: str,
    queue_name: str,
    publish: Callable[[int], object],
    request_id: str | None = None,
) -> Reconciliation:
    """Queue ``share_pack_id`` for provisioning again as an UPDATE of its stored configuration.

    Raises:
        NotFound: no such pack in this workspace.
        Conflict: the pack is being provisioned, or was never valid.
    """
    with session_factory.begin() as session:
        pack = get_share_pack(session, share_pack_id, workspace_url=workspace_url)
        if pack.share_pack_status not in RECONCILABLE:
            raise Conflict(
                f"Share pack {share_pack_id} is {pack.share_pack_status}; "
                "only a completed or failed pack can be reconciled"
            )
        spec = reconcile_spec(SharePackSpec.from_dict(pack.config))
        row = History(session, SharePack).change(
            share_pack_id,
            changed_by=requested_by,
            change_reason="reconcile requested",
            expected_version=pack.version,
            share_pack_status=SharePackStatus.IN_PROGRESS,
            provisioning_status="Queued for reconciliation",
            error_message=None,
            strategy=spec.metadata.strategy.value,
            config=spec.to_dict(),
            plan=None,  # the earlier run's plan must not be taken for an interrupted attempt of this one
        )
        session.add(
            AuditEntry(
                entity_type="share_pack",
                entity_id=str(share_pack_id),
                action=AuditAction.STATUS_CHANGED,
                performed_by=requested_by,
                old_values={"share_pack_status": pack.share_pack_status, "strategy": pack.strategy},
                new_values={
                    "share_pack_status": row.share_pack_status,
                    "strategy": row.strategy,
                    "reason": "reconcile",
                },
                request_id=request_id,
            )
        )
        outbox = add_to_outbox(
            session,
            queue_name=queue_name,
            message=ProvisionSharePack(share_pack_id=share_pack_id, version=row.version, request_id=request_id),
        )
        outbox_id = outbox.id
        drift = pack_findings(session, share_pack_id)
        result = Reconciliation(share_pack_id, row.share_pack_status, row.strategy, drift)
    publish(outbox_id)
    log.info("share_pack.reconcile_queued", share_pack_id=str(share_pack_id), drift=len(drift))
    return result
