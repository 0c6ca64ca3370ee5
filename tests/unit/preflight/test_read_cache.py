"""The pre-flight's read cache: one read per key at a time, and while an expired value is read again the
other callers use it instead of waiting (never past twice its TTL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shared.preflight.cache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowLoad:
    """A loader that blocks until released, so a test can hold a read under way."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        self.started.set()
        assert self.release.wait(timeout=10), "the test never released the load"
        return self.value


def in_background(pool: ThreadPoolExecutor, call: Callable[[], str]):
    return pool.submit(call)


def test_a_kept_value_is_served_until_its_ttl_then_read_again() -> None:
    clock = Clock()
    cache = ReadCache(5, clock=clock)
    assert cache.get("shares", lambda: "v1") == "v1"
    clock.now = 4.9
    assert cache.get("shares", lambda: "v2") == "v1"
    clock.now = 5.1
    assert cache.get("shares", lambda: "v2") == "v2"


def test_while_an_expired_value_is_read_again_the_others_take_it_instead_of_waiting() -> None:
    clock = Clock()
    cache = ReadCache(5, clock=clock)
    cache.get("shares", lambda: "v1")
    clock.now = 6.0  # expired one second ago
    load = SlowLoad("v2")
    with ThreadPoolExecutor(1) as pool:
        refreshing = in_background(pool, lambda: cache.get("shares", load))
        assert load.started.wait(timeout=10)
        # A second caller does not queue behind the read under way: it gets the last answer at once.
        assert cache.get("shares", lambda: "never called") == "v1"
        load.release.set()
        assert refreshing.result(timeout=10) == "v2"
    assert cache.get("shares", lambda: "never called") == "v2" and load.calls == 1


def test_past_twice_the_ttl_the_others_wait_for_the_read_under_way() -> None:
    clock = Clock()
    cache = ReadCache(5, clock=clock)
    cache.get("shares", lambda: "v1")
    clock.now = 10.5  # expired 5.5 s ago: too old to serve
    load = SlowLoad("v2")
    with ThreadPoolExecutor(2) as pool:
        refreshing = in_background(pool, lambda: cache.get("shares", load))
        assert load.started.wait(timeout=10)
        waiting = in_background(pool, lambda: cache.get("shares", lambda: "never called"))
        assert not waiting.done()
        load.release.set()
        assert refreshing.result(timeout=10) == waiting.result(timeout=10) == "v2"


def test_an_invalidated_value_is_never_served_again() -> None:
    clock = Clock()
    cache = ReadCache(5, clock=clock)
    cache.get("shares", lambda: "v1")
    cache.invalidate()
    assert cache.get("shares", lambda: "v2") == "v2"


def test_a_fresh_read_ignores_what_is_kept() -> None:
    cache = ReadCache(5, clock=Clock())
    cache.get("shares", lambda: "v1")
    assert cache.get("shares", lambda: "live", fresh=True) == "live"
    assert cache.get("shares", lambda: "never called") == "live"


def expired_with_refresh() -> tuple[Clock, list[Callable[[], None]], ReadCache]:
    """A cache whose value "v1" expired a second ago, and the refreshes it hands over (run them to refresh)."""
    clock = Clock()
    refreshes: list[Callable[[], None]] = []
    cache = ReadCache(5, clock=clock, refresh_in=refreshes.append)
    cache.get("shares", lambda: "v1")
    clock.now = 6.0
    return clock, refreshes, cache


def test_with_refresh_in_no_caller_waits_for_the_read_again() -> None:
    _, refreshes, cache = expired_with_refresh()
    assert cache.has("shares")  # answers at once
    assert cache.get("shares", lambda: "v2") == "v1" and len(refreshes) == 1
    assert cache.get("shares", lambda: "never called") == "v1" and len(refreshes) == 1  # one read at a time
    refreshes.pop()()
    assert cache.get("shares", lambda: "never called") == "v2"


def test_a_failed_refresh_keeps_nothing_and_past_the_grace_the_caller_reads_itself() -> None:
    clock, refreshes, cache = expired_with_refresh()

    def unreadable() -> str:
        raise TimeoutError("the workspace did not answer")

    assert cache.get("shares", unreadable) == "v1"
    refreshes.pop()()  # fails quietly
    clock.now = 10.5  # past twice the TTL: never served, and nobody else reads it
    assert not cache.has("shares")
    assert cache.get("shares", lambda: "v3") == "v3" and refreshes == []


def test_an_invalidation_during_a_refresh_keeps_its_answer_out() -> None:
    _, refreshes, cache = expired_with_refresh()
    assert cache.get("shares", lambda: "v2 read before our write") == "v1"
    cache.invalidate()  # this process changed the workspace meanwhile
    refreshes.pop()()
    assert cache.get("shares", lambda: "v3") == "v3"


def test_without_refresh_in_an_expired_value_is_not_at_hand() -> None:
    clock = Clock()
    cache = ReadCache(5, clock=clock)
    cache.get("shares", lambda: "v1")
    clock.now = 6.0
    assert not cache.has("shares")
