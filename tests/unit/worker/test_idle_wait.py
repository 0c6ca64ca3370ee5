"""The worker loop's wait between polls: the poll interval, backing off while the queue or database is down."""

from __future__ import annotations

from worker.__main__ import MAX_IDLE_WAIT_SECONDS, idle_wait


def test_a_healthy_loop_waits_the_poll_interval() -> None:
    assert idle_wait(1.0, 0) == 1.0


def test_consecutive_failures_double_the_wait_up_to_the_cap() -> None:
    cap = MAX_IDLE_WAIT_SECONDS
    assert [idle_wait(1.0, n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, cap, cap]
    assert idle_wait(1.0, 10_000) == MAX_IDLE_WAIT_SECONDS


def test_a_poll_interval_above_the_cap_is_kept() -> None:
    assert idle_wait(120.0, 3) == 120.0
