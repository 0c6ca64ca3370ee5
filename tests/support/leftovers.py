"""No test leaves work running behind it: a thread, a child process, or a pre-flight read past its budget.

Left running, such work calls the shared emulators during the next test, whose request-log assertions then
fail at random (a pre-flight that timed out went on reading the emulator as `sharepack-worker`). The autouse
fixture waits for all of it after each test and fails the test that left it. Services a session fixture
starts on first use inside a test (`request.getfixturevalue`) register with `keep_for_session`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import psutil
import pytest

from shared.preflight import wait_for_background_reads
from tests.support.waiting import wait_for

#: How long a test's leftovers may take to finish (a read in flight ends within its HTTP timeout).
LEFTOVER_SECONDS = 30
_SESSION_PIDS: set[int] = set()


def keep_for_session(pid: int) -> None:
    """A child process that lives for the session on purpose (a shared service started on first use)."""
    _SESSION_PIDS.add(pid)


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Fail a test that leaves a thread or a child process running (session fixtures' start before it)."""
    threads = set(threading.enumerate())
    me = os.getpid()
    children = _descendants(me)
    yield
    assert wait_for_background_reads(LEFTOVER_SECONDS), "a pre-flight read of this test is still running"

    def left() -> list[str]:
        names = [t.name for t in threading.enumerate() if t not in threads and t.is_alive() and not _pooled(t)]
        return names + [f"process {p.pid} {_command(p)}" for p in _alive(_processes(_descendants(me) - children))
                        if not _session_process(p) and not _spawned_by(p, children)]

    try:
        wait_for(lambda: not left(), timeout=LEFTOVER_SECONDS, what="the threads and processes of this test to end")
    except AssertionError:
        raise AssertionError(f"left running by this test: {sorted(left())}") from None


def _children_files_work() -> bool:
    me = os.getpid()
    return os.path.exists(f"/proc/{me}/task/{me}/children")


_PROC_CHILDREN = _children_files_work()


def _descendants(pid: int) -> set[int]:
    """The ids of every process below `pid`.

    Read from Linux's `/proc/<pid>/task/<tid>/children` (https://docs.kernel.org/filesystems/proc.html): a
    few small files, where psutil's `children()` reads the stat file of every process on the machine (~3 ms
    a test twice over, ~6 s of CPU in a `make test-fast`). The kernel may leave out a child that starts or
    exits while its file is read; one that runs throughout is always listed, and the check after a test asks
    again until nothing is left. Elsewhere, psutil.
    """
    if not _PROC_CHILDREN:
        try:
            return {p.pid for p in psutil.Process(pid).children(recursive=True)}
        except psutil.Error:
            return set()
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # it has ended
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as listing:
                    pids = [int(child) for child in listing.read().split()]
            except OSError:
                continue  # the thread has ended (its children now belong to another of its process's threads)
            pending += [child for child in pids if child not in found]
            found.update(pids)
    return found


def _processes(pids: set[int]) -> list[psutil.Process]:
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.Error:
            continue  # it has ended
    return processes


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


def _spawned_by(process: psutil.Process, earlier: set[int]) -> bool:
    """Started by a process that ran before the test (a session browser's helper, say): not this test's."""
    try:
        return any(parent.pid in earlier for parent in process.parents())
    except psutil.Error:
        return False


def _command(process: psutil.Process) -> str:
    """The process's command line, or what is known of it once it has ended (it may end while we look)."""
    try:
        return " ".join(process.cmdline()[:3])
    except psutil.Error:
        return "(ended)"


def _pooled(thread: threading.Thread) -> bool:
    """Threads that wait for work and hold none of a test's: idle workers of a process-wide pool (ours, and
    the default executor of an event loop, such as the one Playwright's session browser runs), and a session
    server's thread serving a keep-alive connection (it answers only what a client sends)."""
    return (thread.name.startswith(("preflight", "asyncio_"))
            or thread.name.endswith("(process_request_thread)"))


def _session_process(process: psutil.Process) -> bool:
    """A session service, or a process of one (node may start helpers)."""
    try:
        return process.pid in _SESSION_PIDS or any(p.pid in _SESSION_PIDS for p in process.parents())
    except psutil.Error:
        return False
