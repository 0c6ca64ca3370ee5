"""ACCESS_EXPIRY: remind before time-boxed access or a recertification lapses, and revoke it through a new pack
version when it does (see `shared.use_cases.access_expiry`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.platform.status import SyncType
from shared.use_cases.access_expiry import AccessExpiryWatch
from sync.jobs.base import JobContext, JobResult, SyncInterrupted

MAX_FAILURES_IN_DETAILS = 20


@dataclass
class AccessExpiryJob:
    watch: AccessExpiryWatch
    sync_type: SyncType = field(default=SyncType.ACCESS_EXPIRY)

    def run(self, context: JobContext) -> JobResult:
        counts = self.watch.run(context.should_stop)
        result = JobResult(
            processed=counts.deadlines,
            created=counts.reminders,
            updated=counts.revoked,
            failed=len(counts.failures),
            details={"reminders": counts.reminders, "revoked": counts.revoked, "deferred": counts.deferred,
                     "failures": counts.failures[:MAX_FAILURES_IN_DETAILS]},
        )
        if context.should_stop():
            raise SyncInterrupted(result)
        return result
