"""DATABRICKS_OBJECTS: read every workspace's recipients and shares into `databricks_objects` and detect drift
(see `shared.drift.sync`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.drift.sync import DatabricksObjectsSync
from shared.platform.status import SyncStatus, SyncType
from sync.jobs.base import JobContext, JobResult, SyncInterrupted


@dataclass
class DatabricksObjectsJob:
    # None when the sync service has no Databricks credentials: nothing can be read.
    sync: DatabricksObjectsSync | None
    workspaces: Callable[[], list[str]]
    sync_type: SyncType = field(default=SyncType.DATABRICKS_OBJECTS)

    def run(self, context: JobContext) -> JobResult:
        if self.sync is None:
            return JobResult(details={"skipped": "no Databricks credentials configured"})
        result = JobResult(details={"workspaces": {}})
        for url in self.workspaces():
            if context.should_stop():
                raise SyncInterrupted(result)
            outcome = self.sync.sync_workspace(url)
            result.processed += outcome.objects
            result.created += outcome.created
            result.updated += outcome.updated + outcome.deleted
            result.failed += outcome.status is SyncStatus.FAILED
            result.details["workspaces"][url] = outcome.details()
        return result
