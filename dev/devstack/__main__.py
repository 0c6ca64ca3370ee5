"""`make run`: start the whole local stack on embedded defaults and keep it up until Ctrl-C or SIGTERM.

    embedded PostgreSQL (.local/postgres)  ->  alembic upgrade head
    workspace emulator   http://127.0.0.1:8001   (token local-dev-token, state in .local/emulator-state.json)
    Graph emulator       http://127.0.0.1:8002   (Azure AD: dev/devstack/graph_seed.json,
                                                  state in .local/graph-state.json)
    API (gunicorn)       http://127.0.0.1:8000   (API keys: local-dev-key-0123456789abcdef0123, an administrator;
                                                  local-requestor-key-0123456789abcdef, requestor@example.com,
                                                  a configurator;
                                                  the web console at /console)
    worker               (queue backend: PostgreSQL)
    sync service         (python -m sync: mails notifications every 5 seconds)
    SMTP server          127.0.0.1:8025 (every message kept as a .eml file in .local/mail/)

Settings from the environment or `.env` override these defaults (for example QUEUE_BACKEND=azure).
Prometheus metrics: the API at http://127.0.0.1:8000/metrics, the worker at http://127.0.0.1:9102/metrics,
the sync service at http://127.0.0.1:9103/metrics.
DEVSTACK_HOME, DEVSTACK_API_PORT, DEVSTACK_EMULATOR_PORT, DEVSTACK_GRAPH_PORT, DEVSTACK_WORKER_METRICS_PORT,
DEVSTACK_SYNC_METRICS_PORT and DEVSTACK_SMTP_PORT move the stack (the tests and bench/bench_api.py run one
aside). If a port is taken, it says which and by what process, and exits before starting anything.
DEVSTACK_BACKGROUND says how the worker, sync service and mail server share a busy machine: `idle` (the
default) runs them only on cores nothing else wants, `niced` at nice 10 (a small share of a busy core).

When it stops, it stops everything it started: the children (each in its own process group, so
gunicorn's workers go with their master) and the embedded PostgreSQL server, which `pg_ctl` runs detached
and which would otherwise outlive us. When it is killed (even with SIGKILL) they stop too: see
`dev.devstack.lifeline`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from alembic.config import Config
from cryptography.fernet import Fernet

from alembic import command
from dev.devserver.ready import NotReadyError, answers, wait_until_ready
from dev.devstack.lifeline import Watchdog, die_with_parent, stop_postgres
from dev.devstack.local_defaults import SHAREPACK_ADMINS_ID, register_local_defaults
from dev.devstack.ports import taken_ports
from shared.platform.db import make_engine, make_session_factory, sqlalchemy_url
from shared.platform.embedded_postgres import start_embedded_postgres

ROOT = Path(__file__).resolve().parents[2]
CHILD_STOP_SECONDS = 30
# The worker, the sync service and the mail server work from queues and schedules; the API and the emulators
# answer someone waiting. On one machine they share the cores, so during a burst of uploads the kernel gives
# the API first call and the background catches up afterwards (in production each runs on its own replicas).
# SCHED_IDLE, not only a niceness: at nice 10 the worker and sync service still took ~2.6 ms of CPU per upload
# beside the API on two cores (uploads/s 122 against 152 with them stopped, bench/README.md), while a core
# running only SCHED_IDLE work counts as free when the API's threads wake. The price: beside a machine busy
# on something else (a test suite), provisioning waits; `niced` keeps them a share of a busy core.


class Priority(NamedTuple):
    """How far the kernel puts a process behind the others when they compete for a core."""

    niceness: int = 0
    idle: bool = False  # SCHED_IDLE


BACKGROUND = {"idle": Priority(niceness=10, idle=True), "niced": Priority(niceness=10)}
LOCAL_TENANT_ID = "00000000-0000-0000-0000-00000000000a"


def local_defaults(emulator_url: str, graph_url: str = "http://127.0.0.1:8002",
                   api_url: str = "http://127.0.0.1:8000", smtp_port: int = 8025) -> dict[str, str]:
    return {
        "ENABLE_WORKFLOW": "true",
        "API_KEYS": "local-dev=local-dev-key-0123456789abcdef0123,"
                    "requestor@example.com=local-requestor-key-0123456789abcdef,"
                    "approver@example.com=local-approver-key-0123456789abcdef",
        "ADMIN_PRINCIPALS": "local-dev",
        "DEV_WORKSPACE_URLS": emulator_url,
        "DATABRICKS_TOKEN": "local-dev-token",
        "LOG_FORMAT": "console",
        # The API as 2 processes of 2 threads, one process per core of the 2-core benchmark machine, each
        # keeping 8 connections: 16 keep-alive clients then wait in two queues, not four, and a process waiting
        # on PostgreSQL has its second thread. With 16 clients, one day's 13 runs against 33 of 4 processes of 2
        # (4 connections each): p99 141.9 against 168.9 ms (medians), under 150 ms in 8 of 13 against 6 of 33
        # (bench/README.md, ninth round). ~215 MB per process.
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
        "GUNICORN_WORKER_CONNECTIONS": "8",
        "DATABRICKS_RETRY_TIMEOUT_SECONDS": "60",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SYNC_SCHEDULE_NOTIFICATIONS": "5",
        # Azure AD is the Graph emulator (dev/graph_emulator/README.md); the AD jobs run every 30 seconds.
        "AZURE_TENANT_ID": LOCAL_TENANT_ID,
        "GRAPH_CLIENT_ID": "graph-local-client",
        "GRAPH_CLIENT_SECRET": "graph-local-secret",
        "GRAPH_BASE_URL": graph_url,
        "GRAPH_AUTHORITY_HOST": graph_url,
        "ADMIN_GROUPS": SHAREPACK_ADMINS_ID,  # by object id: display names select no group
        "SYNC_SCHEDULE_AD_USERS": "30",
        "SYNC_SCHEDULE_AD_GROUPS": "30",
        # The console's "Sign in with Microsoft" against the Graph emulator's Entra endpoints (its app
        # registration console-local-client; the emulator's page lists dev/devstack/graph_seed.json's users).
        "CONSOLE_ENTRA_CLIENT_ID": "console-local-client",
        "CONSOLE_ENTRA_CLIENT_SECRET": "console-local-secret",
        "CONSOLE_ENTRA_AUTHORITY": f"{graph_url}/{LOCAL_TENANT_ID}",
        "CONSOLE_ENTRA_REDIRECT_URI": f"{api_url}/console/sign-in/microsoft/callback",
    }


def _stop_requested(signum: int, _frame: FrameType | None) -> None:
    """The first SIGINT/SIGTERM unwinds main() through its cleanups; later ones must not interrupt them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    # Installed first: a signal during startup (initdb, migrations) must still stop what was started.
    signal.signal(signal.SIGINT, _stop_requested)
    signal.signal(signal.SIGTERM, _stop_requested)
    local = Path(os.environ.get("DEVSTACK_HOME", ROOT / ".local")).resolve()
    api_port = int(os.environ.get("DEVSTACK_API_PORT", "8000"))
    emulator_port = int(os.environ.get("DEVSTACK_EMULATOR_PORT", "8001"))
    graph_port = int(os.environ.get("DEVSTACK_GRAPH_PORT", "8002"))
    graph_url = f"http://127.0.0.1:{graph_port}"
    worker_metrics_port = int(os.environ.get("DEVSTACK_WORKER_METRICS_PORT", "9102"))
    sync_metrics_port = int(os.environ.get("DEVSTACK_SYNC_METRICS_PORT", "9103"))
    smtp_port = int(os.environ.get("DEVSTACK_SMTP_PORT", "8025"))
    api_url, emulator_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{emulator_port}"
    background = BACKGROUND.get(os.environ.get("DEVSTACK_BACKGROUND", "idle"))
    if background is None:
        print(f"error: DEVSTACK_BACKGROUND must be one of {', '.join(BACKGROUND)}", file=sys.stderr, flush=True)
        return 2
    taken = taken_ports({
        "API, DEVSTACK_API_PORT": api_port, "workspace emulator, DEVSTACK_EMULATOR_PORT": emulator_port,
        "Graph emulator, DEVSTACK_GRAPH_PORT": graph_port,
        "worker metrics, DEVSTACK_WORKER_METRICS_PORT": worker_metrics_port,
        "sync metrics, DEVSTACK_SYNC_METRICS_PORT": sync_metrics_port, "SMTP server, DEVSTACK_SMTP_PORT": smtp_port,
    })
    if taken:
        print("\n".join(f"error: {problem}" for problem in taken), file=sys.stderr, flush=True)
        print("error: nothing was started; stop that process or move the stack with the variable named",
              file=sys.stderr, flush=True)
        return 2
    local.mkdir(parents=True, exist_ok=True)
    # The console's session key, shared by gunicorn's workers; a new one per run signs everyone out.
    env = {
        **local_defaults(emulator_url, graph_url, api_url, smtp_port),
        "ACTIVATION_LINK_KEYS": _local_activation_link_key(local),
        "CONSOLE_SECRET_KEY": secrets.token_hex(32),
        **os.environ,
    }
    if "DEVSTACK_SMTP_PORT" in os.environ:  # moved aside: the stack's own mail server is where mail goes
        env["SMTP_PORT"] = str(smtp_port)
    try:
        with ExitStack() as stack:
            embedded = not env.get("DOMAIN_DB_CONNECTION_STRING") and not env.get("domain_db_connection_string")
            # First in, last out: it must be watching before anything starts, and stays until all stopped.
            watchdog = Watchdog(local / "postgres" if embedded else None)
            stack.callback(watchdog.close)
            if embedded:
                env["DOMAIN_DB_CONNECTION_STRING"] = stack.enter_context(embedded_postgres(local / "postgres"))
                print(f"database: embedded PostgreSQL in {local / 'postgres'}", flush=True)
            config = Config(str(ROOT / "alembic.ini"))
            config.attributes["database_url"] = env["DOMAIN_DB_CONNECTION_STRING"]
            command.upgrade(config, "head")
            engine = make_engine(sqlalchemy_url(env["DOMAIN_DB_CONNECTION_STRING"]))
            if register_local_defaults(make_session_factory(engine), emulator_url):
                print("registered: tenant Finance on the emulator, project 'Partner analytics'", flush=True)
            engine.dispose()
            python = sys.executable
            child_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{api_port}"}
            commands = [
                Child([python, "-m", "dev.emulator", "--host", "127.0.0.1", "--port", str(emulator_port),
                       "--token", "local-dev-token", "--state-file", str(local / "emulator-state.json")], child_env),
                Child([python, "-m", "dev.graph_emulator", "--host", "127.0.0.1", "--port", str(graph_port),
                       "--state-file", str(local / "graph-state.json"),
                       "--seed", str(ROOT / "dev" / "devstack" / "graph_seed.json"),
                       # Entra sends a browser back only to a registered redirect URI (AADSTS50011 otherwise).
                       "--redirect-uri", f"console-local-client={child_env['CONSOLE_ENTRA_REDIRECT_URI']}"],
                      child_env),
                Child([python, "-m", "gunicorn", "--config", "api/gunicorn.conf.py", "api.wsgi:app"], child_env),
                Child([python, "-m", "worker"], {**child_env, "METRICS_PORT": str(worker_metrics_port)},
                      background),
                Child([python, "-m", "dev.devstack.mailserver", "--port", str(smtp_port),
                       "--directory", str(local / "mail")], child_env, background),
                Child([python, "-m", "sync"], {**child_env, "METRICS_PORT": str(sync_metrics_port)}, background),
            ]
            children = stack.enter_context(running(commands, watchdog))
            if _wait_healthy(api_url):
                print(
                    f"\nready: console {api_url}/console (API key local-dev-key-0123456789abcdef0123, or Sign in "
                    "with Microsoft and "
                    "pick a user on the Graph emulator's page)\n"
                    f"       API {api_url}/workflow/health  docs {api_url}/workflow/docs  "
                    f"workspace emulator {emulator_url}  mail {local / 'mail'}  metrics {api_url}/metrics "
                    f"http://127.0.0.1:{worker_metrics_port}/metrics http://127.0.0.1:{sync_metrics_port}/metrics  "
                    "(Ctrl-C stops everything)\n",
                    flush=True,
                )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            exited = next(child for child in children if child.poll() is not None)
            print(f"{' '.join(exited.args[1:3])} exited with {exited.returncode}; stopping the stack", flush=True)
            return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0


def _local_activation_link_key(local: Path) -> str:
    """The Fernet key of this checkout, made once and kept, so links stored before a restart still decrypt."""
    path = local / "activation-link-key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """The embedded server for the stack's lifetime, stopped when the stack stops.

    pgserver stops the server at exit only when no other process it remembers attached to it; one crashed
    run leaves its pid in that list and every later server keeps running. So stop it here, unless another
    live process still uses it (a second stack or a test on the same data directory).
    """
    url = start_embedded_postgres(data_dir)
    try:
        yield url
    finally:
        _stop_postgres(data_dir)


def _stop_postgres(data_dir: Path) -> None:
    if stop_postgres(data_dir, owner=os.getpid()):
        print("embedded PostgreSQL stopped", flush=True)


class Child(NamedTuple):
    """One process of the stack: its command line, its environment and its priority."""

    argv: list[str]
    env: Mapping[str, str]
    priority: Priority = Priority()


@contextmanager
def running(commands: list[Child], watchdog: Watchdog) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start each child in its own process group, dying with us; on exit SIGTERM each group, then SIGKILL
    stragglers.

    A process group of our session, not a session of its own: Linux schedules each session as one
    autogroup, and niceness only ranks processes within an autogroup
    (https://man7.org/linux/man-pages/man7/sched.7.html, "The autogroup feature"). In sessions of their own,
    the worker at nice 10 still took as much CPU as all of gunicorn's workers together. A terminal's Ctrl-C
    still reaches only us: it goes to the foreground process group.
    """
    children: list[subprocess.Popen[bytes]] = []
    try:
        for argv, env, priority in commands:
            children.append(subprocess.Popen(argv, env=dict(env), cwd=ROOT, process_group=0,
                                             preexec_fn=die_with_parent(priority.niceness, idle=priority.idle)))
            watchdog.watch(children[-1].pid)  # its pid is its process group's id
        yield children
    finally:
        for child in children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_SECONDS
        for child in children:
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(child, signal.SIGKILL)  # anything of the group still there, e.g. orphaned workers
            child.wait()


def _signal_group(child: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def _wait_healthy(api_url: str, timeout: float = 60) -> bool:
    try:
        wait_until_ready(lambda: answers(f"{api_url}/workflow/health"), timeout=timeout, what="the API")
    except NotReadyError:
        print("warning: the API did not report healthy within a minute; see the logs above", flush=True)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
