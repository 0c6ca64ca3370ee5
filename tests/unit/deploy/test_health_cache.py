"""`/workflow/health` stays cheap: one check serves every probe for a few seconds."""

from __future__ import annotations

from shared.platform.health import CachedHealth, HealthReport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_check_serves_every_call_until_the_ttl_passes():
    reports = iter([HealthReport(True, True, 16, ()), HealthReport(False, True, 0, ("database unreachable",))])
    calls: list[int] = []

    def check() -> HealthReport:
        calls.append(1)
        return next(reports)

    clock = Clock()
    cached = CachedHealth(check, ttl_seconds=5, clock=clock)
    assert all(cached().healthy for _ in range(50)) and len(calls) == 1
    clock.now += 4.9
    assert cached().healthy and len(calls) == 1
    clock.now += 0.1
    assert cached().message == "Unhealthy: database unreachable" and len(calls) == 2
