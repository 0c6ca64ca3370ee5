"""Nothing `make run` starts outlives it, even when it is killed with SIGKILL and none of its cleanup runs.

Two lines of defence, because each covers what the other cannot:

* Each child asks the kernel for SIGTERM when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`,
  https://man7.org/linux/man-pages/man2/pr_set_pdeathsig.2const.html), set between fork and exec.
* A watchdog (`python -m dev.devstack.lifeline`), started first and in a session of its own, reads the process
  groups of the children from a pipe whose only writer is the stack. When the stack dies, however it dies,
  the kernel closes that pipe; the watchdog reads end-of-file, stops every group (gunicorn's workers with
  their master), then the embedded PostgreSQL server, which `pg_ctl` started detached (its parent is init,
  so neither a signal to our group nor PR_SET_PDEATHSIG reaches it). Without prctl (macOS) it is the only one.

When the stack stops normally it stops everything itself first; the watchdog then finds nothing left.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import psutil

STOP_SECONDS = 30
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(niceness: int = 0, *, idle: bool = False) -> Callable[[], None]:
    """A `preexec_fn` giving the child SIGTERM when this process dies (Linux; elsewhere the watchdog only),
    ``niceness`` added to its scheduling niceness (`nice(2)`), and with ``idle`` the `SCHED_IDLE` policy: it
    runs only on a core no other process wants (https://man7.org/linux/man-pages/man7/sched.7.html)."""
    parent = os.getpid()
    # Loaded before the fork: a child of a threaded parent must not load libraries before exec.
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if libc is not None and libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(127)
        if os.getppid() != parent:  # the parent died before prctl took effect: no signal will come
            os._exit(127)
        if niceness:
            os.nice(niceness)
        if idle and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    return preexec


class Watchdog:
    """The stack's end of the watchdog's pipe: tell it each child's process group."""

    def __init__(self, postgres_data_dir: Path | None) -> None:
        argv = [sys.executable, "-m", "dev.devstack.lifeline", "--owner", str(os.getpid())]
        if postgres_data_dir is not None:
            argv += ["--postgres-data-dir", str(postgres_data_dir)]
        # Its own session: a Ctrl-C in the terminal is the stack's to handle, not the watchdog's.
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True, text=True)

    def watch(self, pgid: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{pgid}\n")
        self.process.stdin.flush()

    def close(self) -> None:
        """Everything is stopped: let the watchdog look once more and exit."""
        if self.process.stdin is not None:
            with suppress(BrokenPipeError):
                self.process.stdin.close()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS * 2)


def stop_groups(pgids: list[int], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM each process group, give them `seconds` to go, then SIGKILL what is left."""
    for pgid in pgids:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while any(_group_alive(p) for p in pgids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pgid in pgids:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_postgres(data_dir: Path, owner: int, *, immediate: bool = False) -> bool:
    """Stop the embedded server in `data_dir` that `owner` started, unless another live process uses it.

    pgserver stops the server at exit only when no other process it remembers attached to it; one crashed
    run leaves its pid in that list and every later server keeps running. So the owner's pid is taken out
    and the others are checked here. `immediate` skips the shutdown checkpoint, for a server whose data is
    deleted next. Returns whether a server was stopped.
    """
    from pgserver.utils import DiskList

    handles = DiskList(data_dir / ".handle_pids.json")
    others = [pid for pid in handles.get_and_remove(owner) if pid != owner and psutil.pid_exists(pid)]
    if others:
        print(f"embedded PostgreSQL left running: still used by process {others}", flush=True)
        return False
    postmaster = postmaster_pid(data_dir)
    if postmaster is None:
        return False
    try:
        server = psutil.Process(postmaster)
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit; SIGQUIT its
        # "immediate shutdown": exit at once (https://www.postgresql.org/docs/current/server-shutdown.html).
        server.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
    except psutil.NoSuchProcess:
        return False
    if not _wait_until_ended(server, STOP_SECONDS):
        with suppress(psutil.NoSuchProcess):
            server.kill()
    return True


def _wait_until_ended(process: psutil.Process, seconds: float) -> bool:
    """Wait until `process` (not our child) has exited. Its parent is init, which reaps it in its own time
    (a second or more here), so an exited process still listed as a zombie has ended as well."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def postmaster_pid(data_dir: Path) -> int | None:
    """The server's pid: the first line of `postmaster.pid` in its data directory, if it is running."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", type=int, required=True, help="the stack's pid")
    parser.add_argument("--postgres-data-dir", type=Path)
    args = parser.parse_args()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only the pipe's end stops it
    groups = [int(line) for line in sys.stdin if line.strip()]  # until the stack is gone
    stop_groups([g for g in groups if _group_alive(g)])
    if args.postgres_data_dir is not None and stop_postgres(args.postgres_data_dir, args.owner):
        print("embedded PostgreSQL stopped by the watchdog: the stack had died", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
