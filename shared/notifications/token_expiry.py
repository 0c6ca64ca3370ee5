"""TOKEN_EXPIRY notices: 30, 7 and 1 days before a D2O recipient's token expires, to its contact and the
requestor of the pack that created it; each threshold once per token, however often the job runs.

Expiry times are read from the workspace (the newest token's `expiration_time`), not computed from the pack:
a rotation or a change made in Databricks moves them. After a rotation the older token's end is intended and
not announced. A token first seen inside several thresholds gets one
notice, for the nearest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Notification, Recipient, SharePack, TokenExpiryNotice
from shared.models.history import History
from shared.platform.errors import WorkflowError
from shared.platform.logging import get_logger
from shared.platform.status import NotificationType
from shared.provisioning.recipient_tokens import TokenExpiry, TokensFor

log = get_logger(__name__)

THRESHOLD_DAYS = (30, 7, 1)


@dataclass
class ExpiryCounts:
    checked: int = 0
    notices: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Watched:
    workspace_url: str
    name: str
    contact: str | None
    requestor: str | None


@dataclass
class TokenExpiryWatch:
    session_factory: sessionmaker[Session]
    tokens_for: TokensFor
    thresholds: tuple[int, ...] = THRESHOLD_DAYS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def queue_notices(self, should_stop: Callable[[], bool] = lambda: False) -> ExpiryCounts:
        """Read every D2O recipient's tokens and queue the notices that are due."""
        counts = ExpiryCounts()
        by_workspace: dict[str, list[_Watched]] = defaultdict(list)
        for watched in self._recipients():
            by_workspace[watched.workspace_url].append(watched)
        for workspace_url, recipients in by_workspace.items():
            for watched in recipients:
                if should_stop():
                    return counts
                try:
                    token = self.tokens_for(workspace_url).newest_token(watched.name)
                except WorkflowError as exc:  # no credentials for it, workspace down: the others go on
                    counts.failed += 1
                    counts.failures.append(f"{workspace_url}/{watched.name}: {exc.message}")
                    continue
                counts.checked += 1
                if token is not None:
                    counts.notices += self._notice_if_due(watched, token)
        return counts

    def _recipients(self) -> list[_Watched]:
        with self.session_factory() as session:
            recipients = History(session, Recipient).find_current(recipient_type="D2O")
            packs = History(session, SharePack)
            return [
                _Watched(
                    workspace_url=r.workspace_url,
                    name=r.recipient_name,
                    contact=r.recipient_contact_email,
                    requestor=(pack.requested_by if (pack := packs.current(r.share_pack_id)) else None)
                    if r.share_pack_id
                    else None,
                )
                for r in recipients
            ]

    def _notice_if_due(self, watched: _Watched, token: TokenExpiry) -> int:
        remaining = token.expires_at - self.clock()
        crossed = [days for days in self.thresholds if remaining <= timedelta(days=days)]
        if not crossed:
            return 0
        nearest = min(crossed)
        with self.session_factory.begin() as session:
            recorded = set(
                session.scalars(
                    insert(TokenExpiryNotice)
                    .values(
                        [
                            {
                                "workspace_url": watched.workspace_url,
                                "recipient_name": watched.name,
                                "token_id": token.token_id,
                                "threshold_days": days,
                            }
                            for days in crossed
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(TokenExpiryNotice.threshold_days)
                )
            )
            if nearest not in recorded:
                return 0
            addresses = list(dict.fromkeys(a for a in (watched.contact, watched.requestor) if a))
            for address in addresses:
                session.add(
                    Notification(
                        notification_type=NotificationType.TOKEN_EXPIRY,
                        recipient_email=address,
                        subject=f"Delta Sharing token of {watched.name} expires in {nearest} day(s) or less",
                        body=(
                            f"The bearer token of recipient {watched.name} in {watched.workspace_url} expires at "
                            f"{token.expires_at.isoformat()}. To keep access, ask the data provider to rotate it "
                            "(POST /workflow/recipients/{name}/rotate-token); the new activation link is e-mailed."
                        ),
                        related_entity_type="recipient",
                    )
                )
        log.info("token_expiry.noticed", recipient=watched.name, threshold_days=nearest, notices=len(addresses))
        return len(addresses)
