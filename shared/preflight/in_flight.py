"""Workspace reads that may outlive the request that started them, on one process-wide pool, counted.

Two kinds: a pre-flight that ran past its budget (the upload answered without it; the read finishes within
the SDK's own retry timeout), and the refresh of an expired cached read that the callers meanwhile answer
from the last value (`ReadCache`). A shared pool keeps a burst of slow uploads from starting threads without
end, and the count lets a process (or a test) wait until none is left running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="preflight")


class InFlight:
    """How many reads run on the pool, so a process (or a test) can wait for the ones it left."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def run(self, read: Callable[[], T]) -> T:
        try:
            return read()
        finally:
            with self._changed:
                self._count -= 1
                self._changed.notify_all()

    def submit(self, read: Callable[[], T]) -> Future[T]:
        with self._changed:
            self._count += 1
        try:
            return _POOL.submit(self.run, read)
        except BaseException:
            with self._changed:
                self._count -= 1
            raise

    def wait_idle(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout=timeout)


IN_FLIGHT = InFlight()


def wait_for_background_reads(timeout: float) -> bool:
    """Wait until no read left to the pool is still running; False if some still are after ``timeout``."""
    return IN_FLIGHT.wait_idle(timeout)
