"""The tests' one polling helper: it returns what it waited for, and fails naming it."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_for


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "", "message", "later"])
    assert wait_for(lambda: next(values), timeout=5, what="a message", poll_seconds=0) == "message"


def test_asks_at_least_once_even_with_no_time_left() -> None:
    assert wait_for(lambda: True, timeout=0, what="nothing") is True


def test_fails_at_the_deadline_naming_what_it_waited_for() -> None:
    calls: list[int] = []
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the row to be published"):
        wait_for(lambda: calls.append(1), timeout=0.05, what="the row to be published", poll_seconds=0.01)
    assert len(calls) >= 2  # asked again until the deadline, not once
