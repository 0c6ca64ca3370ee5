"""AD_USERS and AD_GROUPS: keep `users` and `ad_groups` in step with Azure AD (see `shared.graph.ad_sync`).

Without Graph settings the jobs still run on their schedule and record that they skipped, so
`GET /workflow/sync/jobs` says why the tables stay empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.graph.ad_sync import AdSync, SyncCounts
from shared.platform.status import SyncType
from sync.jobs.base import JobContext, JobResult

NOT_CONFIGURED = {"skipped": "Azure AD is not configured (azure_tenant_id, graph_client_id)"}


def _result(counts: SyncCounts) -> JobResult:
    return JobResult(
        processed=counts.processed,
        created=counts.created,
        updated=counts.updated + counts.deleted,
        failed=counts.failed,
        details={"deleted": counts.deleted, "full_round": counts.full_round,
                 "versions_written": counts.versions_written},
    )


@dataclass
class AdUsersJob:
    """One delta round of users (a full round the first time, or when Graph expired the delta link)."""

    sync: AdSync | None
    sync_type: SyncType = field(default=SyncType.AD_USERS)

    def run(self, context: JobContext) -> JobResult:
        if self.sync is None:
            return JobResult(details=dict(NOT_CONFIGURED))
        return _result(self.sync.sync_users())


@dataclass
class AdGroupsJob:
    """One delta round of the groups tenants, projects and `admin_groups` name, then their members."""

    sync: AdSync | None
    sync_type: SyncType = field(default=SyncType.AD_GROUPS)

    def run(self, context: JobContext) -> JobResult:
        if self.sync is None:
            return JobResult(details=dict(NOT_CONFIGURED))
        return _result(self.sync.sync_groups())
