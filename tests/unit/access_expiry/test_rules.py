"""Which reminders are due, what has lapsed, and the configuration left once it is revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.access_expiry.rules import (
    Deadline,
    deadlines_of,
    has_grants,
    lapse_reason,
    lapsed,
    recertification_due,
    reminders_due,
    without,
)
from shared.share_pack_file.model import (
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

DUE = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("before", "due"), [
    (timedelta(days=30), ()),
    (timedelta(days=14, seconds=1), ()),
    (timedelta(days=14), (14,)),
    (timedelta(days=5), (14,)),
    (timedelta(days=3), (14, 3)),
    (timedelta(days=1, hours=1), (14, 3)),
    (timedelta(days=1), (14, 3, 1)),
    (timedelta(seconds=1), (14, 3, 1)),
    (timedelta(0), ()),  # the deadline itself: revoked, not reminded
    (-timedelta(days=2), ()),
])
def test_reminders_are_due_once_a_threshold_is_crossed_and_until_the_deadline(before, due):
    assert reminders_due(DUE, DUE - before) == due


def test_a_deadline_first_seen_inside_several_thresholds_names_the_nearest_last():
    assert reminders_due(DUE, DUE - timedelta(hours=2))[-1] == 1


def test_only_deadlines_that_have_come_lapse():
    past, now, later = Deadline(DUE - timedelta(seconds=1), "a"), Deadline(DUE, "b"), Deadline(DUE + timedelta(1), "c")
    assert lapsed([past, now, later], DUE) == [past, now]


def test_recertification_counts_from_the_last_confirmation_but_never_before_the_rule():
    confirmed, required = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    assert recertification_due(confirmed, required, 30) == required + timedelta(days=30)
    assert recertification_due(required + timedelta(days=3), required, 30) == required + timedelta(days=33)


def spec(strategy: Strategy = Strategy.NEW) -> SharePackSpec:
    return SharePackSpec(
        metadata=Metadata("jane@example.com", "P", "Finance", strategy),
        recipients=(RecipientSpec("a", RecipientType.D2O, email="a@example.com", expires_on="2027-03-01"),
                    RecipientSpec("b", RecipientType.D2O, email="b@example.com")),
        shares=(ShareSpec("s1", recipients=("a", "b"), expires_on={"b": "2027-04-01T12:00:00Z"}),
                ShareSpec("s2", recipients=("a", "b"))),
    )


def test_a_configuration_declares_its_recipient_and_grant_expiries():
    assert deadlines_of(spec()) == [
        Deadline(DUE, "a"), Deadline(datetime(2027, 4, 1, 12, tzinfo=UTC), "b", "s1")]
    assert deadlines_of(spec(Strategy.DELETE)) == []


def test_an_expired_grant_leaves_only_its_share():
    left = without(spec(), [Deadline(DUE, "b", "s1")])
    assert [s.recipients for s in left.shares] == [("a",), ("a", "b")]
    assert left.shares[0].expires_on == {}
    assert [r.name for r in left.recipients] == ["a", "b"]
    assert left.metadata.strategy is Strategy.UPDATE  # an UPDATE revokes grants it no longer lists


def test_an_expired_recipient_leaves_the_pack_and_every_share():
    left = without(spec(), [Deadline(DUE, "a")])
    assert [s.recipients for s in left.shares] == [("b",), ("b",)]
    assert [r.name for r in left.recipients] == ["b"]


def test_an_unconfirmed_recertification_revokes_every_grant_and_keeps_the_recipients():
    left = without(spec(), [Deadline(DUE)])
    assert [s.recipients for s in left.shares] == [(), ()]
    assert [r.name for r in left.recipients] == ["a", "b"]
    assert not has_grants(left) and has_grants(spec())


def test_the_reason_says_what_ended_and_when():
    reason = lapse_reason([Deadline(DUE, "b", "s1"), Deadline(DUE + timedelta(hours=6))])
    assert reason == ("access lapsed: the grant of share s1 to recipient b expired on 2027-03-01; "
                      "recertification was due on 2027-03-01T06:00:00Z and not confirmed")
