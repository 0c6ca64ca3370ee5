"""What lapses when, which reminders are due, and the configuration left once access has lapsed. Pure: no I/O,
the moment `now` is always given."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.share_pack_file.expiry import expiry_moment
from shared.share_pack_file.model import SharePackSpec, Strategy

#: Days before a deadline on which the requestor and the project's owners are reminded.
THRESHOLD_DAYS = (14, 3, 1)
RECERTIFICATION = "recertification"
#: `AccessExpiry.share_name` of a recipient's whole access (its `expires_on`), not one grant.
EVERY_SHARE = ""
#: The sync service revoked access that expired or was not recertified (the rest of the reason says which).
LAPSED_PREFIX = "access lapsed: "


@dataclass(frozen=True)
class Deadline:
    """Access of one pack that ends at ``due_at``: one grant, a recipient's whole access, or (recertification)
    every grant of the pack."""

    due_at: datetime
    recipient: str | None = None
    share: str | None = None  # None with a recipient: all its access; None without one: recertification

    @property
    def subject(self) -> str:
        """A stable name for the reminders already sent about it (`AccessNotice.subject`)."""
        if self.recipient is None:
            return RECERTIFICATION
        return f"grant:{self.share}/{self.recipient}" if self.share else f"recipient:{self.recipient}"

    def describe(self) -> str:
        """What ends, in words."""
        if self.recipient is None:
            return "every grant of the share pack (its recertification was not confirmed)"
        if self.share:
            return f"the grant of share {self.share} to recipient {self.recipient}"
        return f"all access of recipient {self.recipient}"

    def when(self) -> str:
        """The deadline as written in mails and in the pack's history (a date when it is midnight UTC)."""
        if self.due_at.hour == self.due_at.minute == self.due_at.second == 0:
            return self.due_at.date().isoformat()
        return self.due_at.isoformat().replace("+00:00", "Z")


def deadlines_of(spec: SharePackSpec) -> list[Deadline]:
    """The expiries a configuration declares (a DELETE gives access to nobody: none)."""
    if spec.metadata.strategy is Strategy.DELETE:
        return []
    found = [Deadline(expiry_moment(r.expires_on), r.name) for r in spec.recipients if r.expires_on]
    found += [
        Deadline(expiry_moment(moment), recipient, share.name)
        for share in spec.shares
        for recipient, moment in share.expires_on.items()
        if recipient in share.recipients
    ]
    return found


def reminders_due(due_at: datetime, now: datetime, thresholds: Iterable[int] = THRESHOLD_DAYS) -> tuple[int, ...]:
    """The thresholds (days) crossed before a deadline that has not come yet, nearest last; () when none."""
    if now >= due_at:
        return ()
    left = due_at - now
    return tuple(sorted((days for days in thresholds if left <= timedelta(days=days)), reverse=True))


def lapsed(deadlines: Iterable[Deadline], now: datetime) -> list[Deadline]:
    """The deadlines that have come."""
    return [deadline for deadline in deadlines if now >= deadline.due_at]


def recertification_due(certified_at: datetime, required_since: datetime, every_days: int) -> datetime:
    """When a pack's access lapses unless confirmed: ``every_days`` after its last confirmation, counted from no
    earlier than the moment its project started requiring it."""
    return max(certified_at, required_since) + timedelta(days=every_days)


def has_grants(spec: SharePackSpec) -> bool:
    return spec.metadata.strategy is not Strategy.DELETE and any(share.recipients for share in spec.shares)


def without(spec: SharePackSpec, ended: Iterable[Deadline]) -> SharePackSpec:
    """The configuration once ``ended`` is revoked, as an UPDATE (which revokes the grants no longer listed).

    An expired grant leaves its share's recipients; an expired recipient leaves the pack and every share; an
    unconfirmed recertification empties every share's recipients (the recipients stay, so an owner may restore
    the access by rolling back to an earlier version or uploading a revision).
    """
    grants = {(d.share, d.recipient) for d in ended if d.recipient and d.share}
    recipients = {d.recipient for d in ended if d.recipient and not d.share}
    everything = any(d.recipient is None for d in ended)

    def keeps(share: str, recipient: str) -> bool:
        return not everything and recipient not in recipients and (share, recipient) not in grants

    shares = tuple(
        replace(
            share,
            recipients=tuple(r for r in share.recipients if keeps(share.name, r)),
            expires_on={r: m for r, m in share.expires_on.items() if keeps(share.name, r)},
        )
        for share in spec.shares
    )
    strategy = Strategy.UPDATE if spec.metadata.strategy is Strategy.NEW else spec.metadata.strategy
    return replace(
        spec,
        metadata=replace(spec.metadata, strategy=strategy),
        recipients=tuple(r for r in spec.recipients if r.name not in recipients),
        shares=shares,
    )


def lapse_reason(ended: Iterable[Deadline]) -> str:
    """The change reason of the version that revokes ``ended`` (the pack's history shows it)."""
    return LAPSED_PREFIX + "; ".join(
        f"{d.describe()} expired on {d.when()}" if d.recipient else
        f"recertification was due on {d.when()} and not confirmed" for d in ended
    )
