"""`make run` stops everything it started: SIGTERM to `python -m dev.devstack` leaves no process behind, and
neither does SIGKILL (no cleanup of its own runs then); a taken port stops it before it starts anything.

The stack runs aside from a developer's own (its own data directory and ports). Every process it started
is collected while it is up: its descendants, and the embedded PostgreSQL server with its backends (which
`pg_ctl` detaches, so they are not our descendants and used to outlive the stack).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from dev.devserver.ready import free_port
from dev.devstack.lifeline import postmaster_pid
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[4]
STARTUP_SECONDS = 180
DEV_KEY = "local-dev-key-0123456789abcdef0123"  # devstack's administrator key


PORT_VARIABLES = ("DEVSTACK_API_PORT", "DEVSTACK_EMULATOR_PORT", "DEVSTACK_GRAPH_PORT", "DEVSTACK_WORKER_METRICS_PORT",
                  "DEVSTACK_SYNC_METRICS_PORT", "DEVSTACK_SMTP_PORT")


def stack_env(home: Path) -> dict[str, str]:
    """A stack aside: its own data directory (short: Unix socket paths are limited to ~100 bytes) and ports."""
    # `niced`, not the default `idle`: under the suite's own load a SCHED_IDLE sync service would wait for a free
    # core, and these tests wait for it (test_priority.py checks `idle` itself).
    env = {**os.environ, "DEVSTACK_HOME": str(home), "WEB_CONCURRENCY": "1", "DEVSTACK_BACKGROUND": "niced"}
    env.update({name: str(free_port()) for name in PORT_VARIABLES})
    for name in ("DOMAIN_DB_CONNECTION_STRING", "domain_db_connection_string"):
        env.pop(name, None)
    return env


def start_stack(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dev.devstack"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def processes_of(stack: subprocess.Popen[str], home: Path) -> list[psutil.Process]:
    """Every process the stack started: its descendants, and the detached PostgreSQL server and backends."""
    started = psutil.Process(stack.pid).children(recursive=True)
    server_pid = postmaster_pid(home / "postgres")
    assert server_pid is not None
    server = psutil.Process(server_pid)
    started += [server, *server.children(recursive=True)]
    assert {"python", "postgres"} <= {p.name().split(".")[0].rstrip("0123456789") for p in started}
    return started


def stop_leftovers(stack: subprocess.Popen[str], home: Path, started: Sequence[psutil.Process] = ()) -> None:
    """After a failed run: no stack, none of the processes it started, no server left behind."""
    if stack.poll() is None:
        stack.kill()
    stack.wait()
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    leftover = postmaster_pid(home / "postgres")
    if leftover is not None and psutil.pid_exists(leftover):
        psutil.Process(leftover).send_signal(signal.SIGINT)
        psutil.wait_procs([psutil.Process(leftover)], timeout=30)
    shutil.rmtree(home, ignore_errors=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def lines_of(stream) -> queue.Queue[str]:
    """Read a child's output on a thread, so waiting for a line can have a deadline."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], prefix: str, seconds: float, seen: list[str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(prefix):
            return
    pytest.fail(f"no line starting {prefix!r} within {seconds} s; output:\n{''.join(seen[-40:])}")


def fetch(url: str, *, retry: bool = False, seconds: float = 60, key: str | None = None) -> str:
    """GET `url`; with `retry`, until it answers (the worker opens its port a moment after the API is up)."""
    deadline = time.monotonic() + seconds
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.read().decode()
        except OSError:
            if not retry or time.monotonic() > deadline:
                raise
            threading.Event().wait(0.2)


def readiness(api_url: str) -> dict:
    """The readiness report, whether it answers 200 or 503 (both carry the heartbeats)."""
    try:
        with urllib.request.urlopen(f"{api_url}/workflow/health/ready", timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def wait_for_metric(url: str, sample: str, *, seconds: float) -> str:
    """The metrics text of `url` once it contains `sample` (the counter is bumped just after the row commits)."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = fetch(url, retry=True, seconds=seconds)
        if sample in text:
            return text
        threading.Event().wait(0.2)
    pytest.fail(f"{sample} not in {url} within {seconds} s:\n{text}")


def wait_for_ad_users(api_url: str, *, seconds: float) -> None:
    """Wait until an AD_USERS run completed having created the seeded users (GET /workflow/sync/jobs)."""
    deadline = time.monotonic() + seconds
    runs: list[dict] = []
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{api_url}/workflow/sync/jobs?sync_type=AD_USERS",
                                         headers={"Authorization": f"Bearer {DEV_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.loads(response.read())["SyncJobs"]
        if any(r["Status"] == "COMPLETED" and r["RecordsCreated"] >= 4 for r in runs):
            return
        threading.Event().wait(0.5)
    pytest.fail(f"no completed AD_USERS run within {seconds} s: {runs}")


def test_sigterm_stops_the_children_and_the_embedded_postgres():
    home = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    env = stack_env(home)
    stack = start_stack(env)
    seen: list[str] = []
    try:
        lines = lines_of(stack.stdout)
        wait_for_line(lines, "ready:", STARTUP_SECONDS, seen)
        # While it runs, the API (all gunicorn workers, multiprocess mode) and the worker serve metrics.
        api_metrics = fetch(f"http://127.0.0.1:{env['DEVSTACK_API_PORT']}/metrics", key=DEV_KEY)
        assert 'route="/workflow/health"' in api_metrics
        worker_metrics = fetch(f"http://127.0.0.1:{env['DEVSTACK_WORKER_METRICS_PORT']}/metrics", retry=True)
        assert 'sharepack_database_up{service="worker"} 1.0' in worker_metrics
        # The AD sync fills the users from the Graph emulator (seeded from dev/devstack/graph_seed.json).
        wait_for_ad_users(f"http://127.0.0.1:{env['DEVSTACK_API_PORT']}", seconds=90)
        # The sync service serves its own metrics port: that run and its Graph calls are counted there.
        sync_metrics = wait_for_metric(f"http://127.0.0.1:{env['DEVSTACK_SYNC_METRICS_PORT']}/metrics",
                                       'sharepack_sync_runs_total{result="COMPLETED",sync_type="AD_USERS"}',
                                       seconds=30)
        assert 'sharepack_graph_calls_total{endpoint="users/delta",result="200"}' in sync_metrics
        # It beats before its first run, so readiness lists it once that run completed.
        assert "sync" in {beat["Service"] for beat in readiness(f"http://127.0.0.1:{env['DEVSTACK_API_PORT']}")
                          ["Heartbeats"]}
        started = processes_of(stack, home)

        stack.send_signal(signal.SIGTERM)
        assert stack.wait(timeout=90) == 0

        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == [], f"still running after the stack stopped: {[(p.pid, p.name()) for p in alive]}"
        wait_for_line(lines, "embedded PostgreSQL stopped", 5, seen)
    finally:
        stop_leftovers(stack, home)


def test_sigkill_leaves_no_process_of_the_stack_and_frees_its_ports():
    home = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    env = stack_env(home)
    stack = start_stack(env)
    seen: list[str] = []
    started: list[psutil.Process] = []
    try:
        lines = lines_of(stack.stdout)
        wait_for_line(lines, "ready:", STARTUP_SECONDS, seen)
        started = processes_of(stack, home)
        # The background processes yield the cores to the API and the emulators, which someone waits on.
        children = {module: p for p in psutil.Process(stack.pid).children()
                    if (module := p.cmdline()[2] if p.cmdline()[1:2] == ["-m"] else None)}
        niceness = {module: p.nice() for module, p in children.items()}
        assert niceness == {"dev.devstack.lifeline": 0, "dev.emulator": 0, "dev.graph_emulator": 0, "gunicorn": 0,
                            "worker": 10, "dev.devstack.mailserver": 10, "sync": 10}, niceness
        # Niceness ranks processes only within one session (Linux's autogroups): theirs is the stack's.
        sessions = {module: os.getsid(p.pid) == os.getsid(stack.pid) for module, p in children.items()}
        assert sessions == {module: module != "dev.devstack.lifeline" for module in children}, sessions
        ports = [int(env[name]) for name in PORT_VARIABLES]
        # The niced background processes open theirs a moment after "ready:".
        fetch(f"http://127.0.0.1:{env['DEVSTACK_SYNC_METRICS_PORT']}/metrics", retry=True)
        fetch(f"http://127.0.0.1:{env['DEVSTACK_WORKER_METRICS_PORT']}/metrics", retry=True)
        wait_for(lambda: not port_is_free(int(env["DEVSTACK_SMTP_PORT"])), timeout=60, what="the mail server's port")
        assert not any(port_is_free(port) for port in ports)

        stack.kill()  # SIGKILL: none of the stack's own cleanup runs
        assert stack.wait(timeout=10) == -signal.SIGKILL

        _, alive = psutil.wait_procs(started, timeout=60)
        assert alive == [], f"still running after the stack was killed: {[(p.pid, p.name()) for p in alive]}"
        wait_for(lambda: all(port_is_free(port) for port in ports), timeout=10, what="the stack's ports to be free")
        assert postmaster_pid(home / "postgres") is None  # the server shut down cleanly (it removes its pid file)
    finally:
        stop_leftovers(stack, home, started)


def test_a_taken_port_is_named_with_its_process_and_nothing_starts():
    home = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    env = stack_env(home)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["DEVSTACK_GRAPH_PORT"])))
        squatter.listen()
        stack = start_stack(env)
        try:
            output, _ = stack.communicate(timeout=60)
            made_a_database = (home / "postgres").exists()
        finally:
            stop_leftovers(stack, home)
    assert stack.returncode == 2, output
    assert f"port {env['DEVSTACK_GRAPH_PORT']} (Graph emulator, DEVSTACK_GRAPH_PORT) is in use by pid {os.getpid()}" \
        in output
    assert "nothing was started" in output
    assert "database:" not in output and not made_a_database
