"""Suite-wide fixtures: real services started once per session (PostgreSQL, Azurite, the workspace emulator).

Under pytest-xdist each worker is its own session, so each starts its own services (the database is named
after PYTEST_XDIST_WORKER as well). Tiers are marked by folder here, so `-m` can pick them (`make test-fast`):
``unit``, ``integration``, ``e2e``, ``browser``, plus ``slow`` for the few tests that take many seconds each.

No test may leave work running behind it: a thread it started, or a pre-flight read that outlived its budget,
would call a shared emulator during the next test (whose request-log assertions then fail at random).
`no_thread_outlives_its_test` waits for both after every test and fails the test that left them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shared.preflight import wait_for_background_reads
from tests.fixtures.waiting import wait_for

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.azurite",
    "tests.fixtures.emulator",
    "tests.fixtures.smtp",
    "tests.fixtures.graph_emulator",
]

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "browser")
#: Tests of many seconds each: outages waited out, the design-scale pack, hostile files sent to gunicorn.
SLOW = ("e2e/test_outages.py", "e2e/test_big_pack.py", "integration/api/test_hostile_uploads.py")
#: How long a test's leftovers may take to finish (a read in flight ends within its HTTP timeout).
LEFTOVER_SECONDS = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = item.path.resolve().relative_to(TESTS).as_posix()
        except ValueError:
            continue
        tier = relative.split("/", 1)[0]
        if tier in TIERS:
            item.add_marker(tier)
        if relative.startswith(SLOW):
            item.add_marker("slow")


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Fail a test that leaves a thread or a child process running (session fixtures' start before it)."""
    threads = set(threading.enumerate())
    me = psutil.Process()
    children = {p.pid for p in me.children(recursive=True)}
    yield
    assert wait_for_background_reads(LEFTOVER_SECONDS), "a pre-flight read of this test is still running"

    def left() -> list[str]:
        names = [t.name for t in threading.enumerate() if t not in threads and t.is_alive() and not _pooled(t)]
        return names + [f"process {p.pid} {' '.join(p.cmdline()[:3])}" for p in _alive(me.children(recursive=True))
                        if p.pid not in children]

    try:
        wait_for(lambda: not left(), timeout=LEFTOVER_SECONDS, what="the threads and processes of this test to end")
    except AssertionError:
        raise AssertionError(f"left running by this test: {sorted(left())}") from None


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                process.cmdline()
                alive.append(process)
        except psutil.Error:
            continue
    return alive


def _pooled(thread: threading.Thread) -> bool:
    """Threads that wait for work and hold none of a test's: idle workers of a process-wide pool, and a
    session server's thread serving a keep-alive connection (it answers only what a client sends)."""
    return thread.name.startswith("preflight") or thread.name.endswith("(process_request_thread)")
