"""How long a message waits before its next attempt: exponential backoff with jitter, and the transient budget.

Transient failures (throttling, 5xx, an unreachable workspace or database) back off exponentially so a
fleet of workers does not hammer a recovering service, with jitter so their retries do not arrive in
lockstep ("equal jitter": half the delay is fixed, half random; see
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A server's `Retry-After`
(https://www.rfc-editor.org/rfc/rfc9110#name-retry-after) is a floor. The budget is time, not a count:
a pack gives up only when its transient failures have lasted `budget_seconds`, however many there were.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

# 2**30 seconds is decades: larger exponents only risk overflow, the cap applies long before.
_MAX_EXPONENT = 30


@dataclass(frozen=True)
class RetryPolicy:
    """Delays for transient retries and busy packs, and when the transient budget is spent."""

    base_delay_seconds: int
    max_delay_seconds: int
    budget_seconds: int
    busy_delay_seconds: int
    random: Callable[[], float] = random.random

    def transient_delay(self, attempt: int, *, retry_after_seconds: int | None = None) -> int:
        """Seconds to wait before attempt `attempt + 1`, after the `attempt`-th transient failure (from 1)."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2**exponent)
        delay = self._jittered(ceiling)
        if retry_after_seconds is not None:
            # Honour the server, but never beyond our own cap (the stuck-pack sweeper relies on the cap).
            delay = max(delay, min(retry_after_seconds, self.max_delay_seconds))
        return delay

    def busy_delay(self) -> int:
        """Seconds before a message whose pack another worker holds comes back."""
        return self._jittered(self.busy_delay_seconds)

    def budget_spent(self, first_failure_at: datetime | None, now: datetime) -> bool:
        """Whether transient failures that began at `first_failure_at` have lasted the whole budget."""
        if first_failure_at is None:
            return False
        return now - first_failure_at >= timedelta(seconds=self.budget_seconds)

    def _jittered(self, ceiling: int) -> int:
        # Whole seconds: Azure queue visibility timeouts are integers. At least 1 s, so a retry never spins.
        return max(1, math.ceil(ceiling / 2 + self.random() * ceiling / 2))
