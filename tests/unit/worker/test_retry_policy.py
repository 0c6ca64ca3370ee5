"""Backoff with jitter and the transient budget: pure arithmetic, so a fixed random source pins it down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.retry_policy import RetryPolicy


def policy(random_value: float, **overrides: int) -> RetryPolicy:
    values = {"base_delay_seconds": 30, "max_delay_seconds": 900, "budget_seconds": 86_400, "busy_delay_seconds": 60}
    values.update(overrides)
    return RetryPolicy(**values, random=lambda: random_value)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 30), (2, 60), (3, 120), (5, 480), (6, 900), (60, 900)])
def test_the_delay_doubles_per_attempt_up_to_the_cap_with_half_of_it_random(attempt: int, ceiling: int) -> None:
    assert policy(0.0).transient_delay(attempt) == ceiling // 2
    assert policy(1.0).transient_delay(attempt) == ceiling


def test_retry_after_is_a_floor_but_never_beyond_the_cap() -> None:
    assert policy(0.0).transient_delay(1, retry_after_seconds=100) == 100
    assert policy(1.0).transient_delay(1, retry_after_seconds=5) == 30
    assert policy(0.0).transient_delay(1, retry_after_seconds=86_400) == 900


def test_a_delay_is_at_least_one_second() -> None:
    assert policy(0.0, base_delay_seconds=1, max_delay_seconds=1).transient_delay(1) == 1


def test_the_busy_delay_is_jittered_around_its_setting() -> None:
    assert policy(0.0).busy_delay() == 30
    assert policy(1.0).busy_delay() == 60


def test_the_budget_is_time_since_the_first_transient_failure() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    p = policy(0.5, budget_seconds=3600)
    assert not p.budget_spent(None, now)
    assert not p.budget_spent(now - timedelta(seconds=3599), now)
    assert p.budget_spent(now - timedelta(seconds=3600), now)
