"""Rate limits with lockout, and API keys kept as salted scrypt hashes."""

from __future__ import annotations

from shared.platform.api_keys import MIN_KEY_CHARS, VerifiedKeys, hash_api_key, matches, verified_before
from shared.platform.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_events_past_the_limit_lock_the_key_out_for_the_lockout():
    clock = Clock()
    limiter = RateLimiter(3, 60, lockout_seconds=300, clock=clock)

    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.hit("10.0.0.1") == 300
    clock.now += 100  # the window is over, the lockout is not
    assert limiter.retry_after("10.0.0.1") == 200
    assert limiter.hit("10.0.0.1") == 200
    assert limiter.hit("10.0.0.2") is None  # another address has its own count
    clock.now += 200
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.hit("10.0.0.1") is None


def test_without_a_lockout_a_key_waits_for_the_end_of_its_window():
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)
    limiter.hit("k")
    clock.now += 50
    limiter.hit("k")

    assert limiter.hit("k") == 10
    clock.now += 10
    assert limiter.hit("k") is None


def test_memory_stays_bounded_by_the_number_of_keys():
    limiter = RateLimiter(1, 60, max_keys=100)
    for index in range(10_000):
        limiter.hit(f"client-{index}")

    assert len(limiter._windows) <= 100


def test_a_key_is_stored_salted_and_checked_in_full():
    key = "k" * MIN_KEY_CHARS
    first, second = hash_api_key(key), hash_api_key(key)

    assert first != second  # a salt of its own each time
    assert matches(key, first) and matches(key, second)
    assert not matches(key[:-1] + "x", first)
    assert not matches(key[:-1], hash_api_key(key[:-1]))  # shorter than the minimum never matches
    assert key not in first


def test_verified_credentials_are_remembered_by_a_keyed_hash_only():
    verified = VerifiedKeys(max_entries=2)
    verified.remember("secret-one", "scrypt:aa:bb")

    assert verified.has("secret-one", "scrypt:aa:bb")
    assert not verified.has("secret-one", "scrypt:aa:cc")  # a pair: the same credential against another form
    assert not verified.has("secret-two", "scrypt:aa:bb")
    assert "secret-one" not in repr(verified._pairs)
    verified.remember("secret-two", "scrypt:aa:bb")
    verified.remember("secret-three", "scrypt:aa:bb")
    assert len(verified._pairs) <= 2


def test_a_match_is_remembered_by_the_process_and_a_miss_is_not():
    key = "m" * MIN_KEY_CHARS
    stored = hash_api_key(key)
    wrong = key[:-1] + "x"

    assert not verified_before(key, stored)
    assert not matches(wrong, stored)
    assert not verified_before(wrong, stored)
    assert matches(key, stored)
    assert verified_before(key, stored)
    assert not verified_before(key, hash_api_key(key))  # another salt: derived again
