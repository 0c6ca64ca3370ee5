"""NOTIFICATIONS: mail every PENDING notification that is due (see `shared.notifications.delivery`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.notifications.delivery import NotificationDeliverer
from shared.status import SyncType
from sync.jobs.base import JobContext, JobInterrupted, JobResult

MAX_FAILURES_IN_DETAILS = 20


@dataclass
class NotificationsJob:
    deliverer: NotificationDeliverer
    sync_type: SyncType = SyncType.NOTIFICATIONS

    def run(self, context: JobContext) -> JobResult:
        counts = self.deliverer.deliver_due(context.should_stop)
        result = JobResult(
            processed=counts.attempted,
            updated=counts.sent,
            failed=counts.failed,
            details={
                "sent": counts.sent,
                "retrying": counts.retrying,
                "failed": counts.failed,
                "failures": counts.failures[:MAX_FAILURES_IN_DETAILS],
            },
        )
        if context.should_stop():
            raise JobInterrupted(result)
        return result
