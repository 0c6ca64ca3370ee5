"""NOTIFICATIONS: queue the token expiry notices that are due, then mail every PENDING notification that is due
(see `shared.notifications.token_expiry` and `shared.notifications.delivery`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.token_expiry import ExpiryCounts, TokenExpiryWatch
from shared.platform.status import SyncType
from sync.jobs.base import JobContext, JobResult, SyncInterrupted

MAX_FAILURES_IN_DETAILS = 20


@dataclass
class NotificationsJob:
    deliverer: NotificationDeliverer
    # None when the sync service has no Databricks credentials: no expiry times to read.
    expiry_watch: TokenExpiryWatch | None = None
    sync_type: SyncType = field(default=SyncType.NOTIFICATIONS)

    def run(self, context: JobContext) -> JobResult:
        expiry = self.expiry_watch.queue_notices(context.should_stop) if self.expiry_watch else ExpiryCounts()
        counts = self.deliverer.deliver_due(context.should_stop)
        result = JobResult(
            processed=counts.attempted,
            created=expiry.notices,
            updated=counts.sent,
            failed=counts.failed + expiry.failed,
            details={
                "sent": counts.sent,
                "retrying": counts.retrying,
                "failed": counts.failed,
                "failures": (counts.failures + expiry.failures)[:MAX_FAILURES_IN_DETAILS],
                "token_expiry": (
                    {"recipients_checked": expiry.checked, "notices": expiry.notices}
                    if self.expiry_watch
                    else "not checked: no Databricks credentials configured"
                ),
            },
        )
        if context.should_stop():
            raise SyncInterrupted(result)
        return result
