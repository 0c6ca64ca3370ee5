"""The Databricks sync: read a workspace's recipients and shares into `databricks_objects`, then detect drift.

Drift also covers the pipelines and schedule jobs this service made: they are read as the worker's plan
reads them (`LakeflowCalls.read_pipelines`), but only in a workspace where some completed pack declares
pipelines (otherwise the read, two calls per pipeline, can find no drift).

One run per workspace is one `sync_jobs` row (DATABRICKS_OBJECTS) with its counts. The read is the gateway's
`read_inventory` (paged lists, bounded concurrency, Retry-After honoured by the SDK). Recipients and shares
are written with SCD2 history, keyed by workspace, type and name; a run that finds nothing changed writes no
version, and an object gone from the workspace gets a last, deleted version. The drift findings of the
workspace are then recomputed from scratch and replace the previous run's.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.drift.detect import CompletedPack, Finding, detect_drift
from shared.models import DatabricksObject, DriftFindingRow, SharePack, SyncJob, TenantRegion
from shared.models.history import History
from shared.platform.errors import ConfigurationError
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.status import SharePackStatus, SyncStatus, SyncType
from shared.provisioning.errors import ProvisioningError
from shared.provisioning.gateway import Inventory
from shared.provisioning.pipeline_state import PipelineState
from shared.share_pack_file import SharePackSpec

log = get_logger(__name__)

RECIPIENT = "RECIPIENT"
SHARE = "SHARE"
_KEY = ("workspace_url", "object_type", "full_name")


class InventoryReader(Protocol):
    """The reads the sync makes (`DatabricksGateway.read_inventory` and `read_pipelines`)."""

    def read_inventory(self) -> Inventory: ...

    def read_pipelines(self) -> dict[str, PipelineState]: ...


@dataclass(frozen=True)
class SyncOutcome:
    """What one run did: versions written, objects seen, and the drift found."""

    sync_job_id: uuid.UUID | None
    status: SyncStatus
    objects: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    findings: tuple[Finding, ...] = ()
    error: str | None = None

    def details(self) -> dict[str, Any]:
        """Return the run's counts as the JSON a `sync_jobs` row keeps in ``details``."""
        if self.error is not None:
            return {"error": self.error}
        return {
            "objects": self.objects,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "drift": len(self.findings),
            "packs_with_drift": len({f.share_pack_id for f in self.findings if f.share_pack_id}),
        }


def workspaces_to_sync(session: Session, settings: Settings) -> list[str]:
    """Return every workspace to sync: each tenant's registered ones and the configured ones."""
    registered = session.scalars(
        select(TenantRegion.workspace_url).where(TenantRegion.is_current, ~TenantRegion.is_deleted)
    )
    return sorted({*registered, *settings.allowed_workspace_urls, *settings.dev_workspace_urls})


def object_rows(workspace_url: str, inventory: Inventory) -> list[dict[str, Any]]:
    """Return the `databricks_objects` values of every recipient and share in ``inventory``."""
    state = inventory.state
    rows = []
    for name, recipient in sorted(state.recipients.items()):
        properties = {
            **recipient.describe(),
            "expiration_time": recipient.expiration_time,
            "activated": recipient.activated,
        }
        rows.append(_row(workspace_url, RECIPIENT, name, inventory.owners.get(f"recipient:{name}"), properties))
    for name, share in sorted(state.shares.items()):
        properties = {
            "comment": share.comment,
            "objects": [
                {"name": o.name, **o.describe()} for o in sorted(share.objects, key=lambda o: (o.name, o.alias or ""))
            ],
            "grantees": sorted(state.grantees(name)),
        }
        rows.append(_row(workspace_url, SHARE, name, inventory.owners.get(f"share:{name}"), properties))
    return rows


def _row(
    workspace_url: str, object_type: str, name: str, owner: str | None, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "workspace_url": workspace_url,
        "object_type": object_type,
        "full_name": name,
        "owner": owner,
        "properties": properties,
    }


@dataclass
class DatabricksObjectsSync:
    """Runs the Databricks sync of one workspace at a time; thread-safe per call."""

    session_factory: sessionmaker[Session]
    reader_for: Callable[[str], InventoryReader]
    performed_by: str = f"sync@{socket.gethostname()}"

    def run_all(self, workspace_urls: Iterable[str]) -> list[SyncOutcome]:
        """Sync each workspace in turn; a failed one does not stop the others (its row records why)."""
        return [self.run(url) for url in workspace_urls]

    def run(self, workspace_url: str) -> SyncOutcome:
        """Sync ``workspace_url`` as a run of its own: one `sync_jobs` row that records how it ended."""
        job_id = self._start(workspace_url)
        outcome = self.sync_workspace(workspace_url, sync_job_id=job_id)
        self._finish(job_id, outcome)
        return outcome

    def sync_workspace(self, workspace_url: str, *, sync_job_id: uuid.UUID | None = None) -> SyncOutcome:
        """Read ``workspace_url``, record its objects and replace its drift findings (tagged ``sync_job_id``).

        A workspace that cannot be read is a FAILED outcome (with the reason), not an exception, so one
        unreadable workspace does not stop the sync of the others.
        """
        with self.session_factory() as session:
            packs = completed_packs(session, workspace_url)
        try:
            reader = self.reader_for(workspace_url)
            inventory = reader.read_inventory()
            if any(pack.spec.pipelines for pack in packs):
                inventory = replace(inventory, state=replace(inventory.state, pipelines=reader.read_pipelines()))
        except (ProvisioningError, ConfigurationError) as exc:
            log.warning("databricks_sync.failed", workspace_url=workspace_url, error=exc.message)
            return SyncOutcome(sync_job_id, SyncStatus.FAILED, error=exc.message)
        with self.session_factory.begin() as session:
            created, updated, deleted = self._record_objects(session, workspace_url, inventory)
            findings = detect_drift(inventory.state, packs)
            replace_findings(session, workspace_url, sync_job_id, findings)
        objects = len(inventory.state.recipients) + len(inventory.state.shares)
        log.info("databricks_sync.completed", workspace_url=workspace_url, objects=objects, drift=len(findings))
        return SyncOutcome(sync_job_id, SyncStatus.COMPLETED, objects, created, updated, deleted, tuple(findings))

    def _record_objects(self, session: Session, workspace_url: str, inventory: Inventory) -> tuple[int, int, int]:
        history = History(session, DatabricksObject)
        rows = object_rows(workspace_url, inventory)
        known = {
            (row.object_type, row.full_name)
            for row in session.execute(
                select(DatabricksObject.object_type, DatabricksObject.full_name).where(
                    DatabricksObject.workspace_url == workspace_url,
                    DatabricksObject.object_type.in_((RECIPIENT, SHARE)),
                    DatabricksObject.is_current,
                    ~DatabricksObject.is_deleted,
                )
            )
        }
        seen = {(row["object_type"], row["full_name"]) for row in rows}
        written = history.upsert_many(rows, key=_KEY, changed_by=self.performed_by, change_reason="databricks sync")
        created = len(seen - known)
        gone = [{"workspace_url": workspace_url, "object_type": t, "full_name": n} for t, n in sorted(known - seen)]
        deleted = history.delete_many(
            gone, key=_KEY, changed_by=self.performed_by, change_reason="gone from the workspace"
        )
        return created, written - created, deleted

    def _start(self, workspace_url: str) -> uuid.UUID:
        with self.session_factory.begin() as session:
            job = SyncJob(sync_type=SyncType.DATABRICKS_OBJECTS, workspace_url=workspace_url, status=SyncStatus.RUNNING)
            session.add(job)
            session.flush()
            return job.sync_job_id

    def _finish(self, job_id: uuid.UUID, outcome: SyncOutcome) -> None:
        with self.session_factory.begin() as session:
            job = session.get_one(SyncJob, job_id)
            job.status = outcome.status
            job.completed_at = datetime.now(UTC)
            job.error_message = outcome.error
            job.records_processed = outcome.objects
            job.records_created = outcome.created
            job.records_updated = outcome.updated + outcome.deleted
            job.details = outcome.details()


def completed_packs(session: Session, workspace_url: str) -> list[CompletedPack]:
    """Return the workspace's COMPLETED packs in the order they completed (oldest first)."""
    rows = session.execute(
        select(SharePack.share_pack_id, SharePack.config)
        .where(
            SharePack.workspace_url == workspace_url,
            SharePack.is_current,
            ~SharePack.is_deleted,
            SharePack.share_pack_status == SharePackStatus.COMPLETED,
        )
        .order_by(SharePack.effective_from, SharePack.share_pack_id)
    )
    return [CompletedPack(row.share_pack_id, SharePackSpec.from_dict(row.config)) for row in rows]


def replace_findings(
    session: Session, workspace_url: str, job_id: uuid.UUID | None, findings: Sequence[Finding]
) -> None:
    """Make ``findings`` the workspace's current drift."""
    session.execute(delete(DriftFindingRow).where(DriftFindingRow.workspace_url == workspace_url))
    session.add_all(
        DriftFindingRow(
            workspace_url=workspace_url,
            share_pack_id=f.share_pack_id,
            sync_job_id=job_id,
            entity=f.entity,
            name=f.name,
            kind=str(f.kind),
            expected=dict(f.expected) if f.expected is not None else None,
            actual=dict(f.actual) if f.actual is not None else None,
        )
        for f in findings
    )
