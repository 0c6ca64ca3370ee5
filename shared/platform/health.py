"""Health of a process: its dependencies (cheap, cached), its readiness (configuration that makes it useful),
and the heartbeats the worker and the sync service write so the API can report them.

* `check_health`: is the database reachable and migrated, and the queue reachable. `CachedHealth` serves
  one answer for a few seconds, so a probe storm costs one check.
* `check_readiness`: the misconfigurations that look healthy but make every request fail: migrations behind
  head, no principals (every route answers 401), an empty workspace allow-list (every upload answers 400),
  a worker reading another queue backend or queue than the API writes to, a dead outbox publisher.
* `ProcessHeartbeat`: a row per process in `monitoring.heartbeats` with its queue backend, refreshed every few
  seconds. `python -m shared.platform.health heartbeat worker` exits 0 while this host's row is fresh (the worker
  image's HEALTHCHECK).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from shared.platform.db import verify_schema
from shared.platform.errors import ServiceUnavailable
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.queue.interface import MessageQueue

log = get_logger(__name__)

HEALTH_CACHE_SECONDS = 5.0
HEARTBEAT_INTERVAL_SECONDS = 15.0
# A process whose last beat is older than this is reported stale (four missed beats).
HEARTBEAT_STALE_AFTER = timedelta(seconds=4 * HEARTBEAT_INTERVAL_SECONDS)
VERSION_TABLE = "deltashare.alembic_version"


@dataclass(frozen=True)
class HealthReport:
    database_connected: bool
    queue_connected: bool
    tables_count: int
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        return "Healthy" if self.healthy else "Unhealthy: " + "; ".join(self.problems)


def check_health(engine: Engine, queue: MessageQueue) -> HealthReport:
    """Check each dependency; a failure is described in words that reveal no secret."""
    problems: list[str] = []
    tables = 0
    database_connected = False
    try:
        report = verify_schema(engine)
        database_connected = True
        tables = report.table_count
        if not report.ok:
            problems.append(report.message)
    except SQLAlchemyError:
        problems.append("database unreachable")
        log.warning("health.database_unreachable")
    queue_connected = False
    try:
        queue.ping()
        queue_connected = True
    except ServiceUnavailable:
        problems.append("queue unreachable")
    return HealthReport(database_connected, queue_connected, tables, tuple(problems))


class CachedHealth:
    """Answer with the last report while it is younger than `ttl_seconds`; check again after that.

    One lock: concurrent probes during a refresh wait for that one check instead of each running their own.
    """

    def __init__(self, check: Callable[[], HealthReport], *, ttl_seconds: float = HEALTH_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._check = check
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._report: HealthReport | None = None
        self._checked_at = 0.0

    def __call__(self) -> HealthReport:
        with self._lock:
            now = self._clock()
            if self._report is None or now - self._checked_at >= self._ttl:
                self._report = self._check()
                self._checked_at = now
            return self._report


# -- heartbeats -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessBeat:
    """The last heartbeat of one process."""

    service: str
    instance: str
    queue_backend: str | None
    queue_name: str | None
    started_at: datetime
    last_beat_at: datetime
    stale: bool


class ProcessHeartbeat:
    """Records that this process runs (and on which queue backend), then refreshes the row on a thread.

    The row is keyed by service and instance (the host name: one container, one process of a kind).
    """

    def __init__(self, engine: Engine, service: str, *, queue_backend: str | None = None,
                 queue_name: str | None = None, instance: str | None = None) -> None:
        self.engine = engine
        self.service = service
        self.instance = instance or socket.gethostname()
        self.queue_backend = queue_backend
        self.queue_name = queue_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{service}-heartbeat", daemon=True)

    def record_start(self) -> None:
        """Insert or reset this process's row: its backend as of now, started now."""
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO monitoring.heartbeats AS h "
                    "(service, instance, queue_backend, queue_name, started_at, last_beat_at) "
                    "VALUES (:service, :instance, :backend, :queue, now(), now()) "
                    "ON CONFLICT (service, instance) DO UPDATE SET queue_backend = excluded.queue_backend, "
                    "queue_name = excluded.queue_name, started_at = now(), last_beat_at = now()"
                ),
                {"service": self.service, "instance": self.instance, "backend": self.queue_backend,
                 "queue": self.queue_name},
            )

    def beat(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE monitoring.heartbeats SET last_beat_at = now() "
                     "WHERE service = :service AND instance = :instance"),
                {"service": self.service, "instance": self.instance},
            )

    def start(self, interval_seconds: float = HEARTBEAT_INTERVAL_SECONDS) -> ProcessHeartbeat:
        """Record the start on the calling thread if the database answers, then beat on a thread.

        A database that is down (or not yet migrated) must not stop the process: the thread keeps trying,
        and until it succeeds health reports the process as missing, which is the truth.
        """
        self._interval = interval_seconds
        self._recorded = self._try(self.record_start)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if self._recorded:
                self._try(self.beat)
            else:
                self._recorded = self._try(self.record_start)

    def _try(self, write: Callable[[], None]) -> bool:
        try:
            write()
            return True
        except SQLAlchemyError:
            log.warning("heartbeat.failed", service=self.service)
            return False


def read_heartbeats(engine: Engine, stale_after: timedelta = HEARTBEAT_STALE_AFTER) -> list[ProcessBeat]:
    """Every recorded process, newest start first, with whether its beat is stale."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT service, instance, queue_backend, queue_name, started_at, last_beat_at, "
                "last_beat_at < now() - make_interval(secs => :stale) AS stale "
                "FROM monitoring.heartbeats ORDER BY started_at DESC"
            ),
            {"stale": stale_after.total_seconds()},
        )
        return [ProcessBeat(**row._mapping) for row in rows]


# -- readiness --------------------------------------------------------------------------------------------


class PublisherState(Protocol):
    """What readiness needs of the outbox publisher (`shared.queue.outbox.OutboxPublisher` has it)."""

    @property
    def is_alive(self) -> bool: ...


@dataclass(frozen=True)
class ReadinessReport:
    problems: tuple[str, ...]
    heartbeats: tuple[ProcessBeat, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        return "Ready" if self.ready else "Not ready: " + "; ".join(self.problems)


def check_readiness(engine: Engine, settings: Settings, *, publisher: PublisherState | None,
                    script_location: Path | None = None) -> ReadinessReport:
    """Everything that makes this API useless although its dependencies answer."""
    problems: list[str] = []
    if settings.auth_mode == "api_key" and not settings.api_keys:
        problems.append("no principals configured: api_keys is empty, so every request answers 401")
    if publisher is not None and not publisher.is_alive:
        problems.append("the outbox publisher thread has stopped: uploads wait for the worker's relay")
    heartbeats: list[ProcessBeat] = []
    try:
        problems.extend(_migration_problems(engine, script_location))
        if not settings.allowed_workspace_urls and not settings.dev_workspace_urls \
                and not _registered_workspaces(engine):
            problems.append("no workspace allowed: allowed_workspace_urls is empty and no tenant region "
                            "registers one, so every upload answers 400")
        heartbeats = read_heartbeats(engine)
        problems.extend(_queue_mismatch(settings, heartbeats))
    except SQLAlchemyError:
        problems.append("database unreachable")
    return ReadinessReport(tuple(problems), tuple(heartbeats))


def migration_heads(script_location: Path | None = None) -> set[str]:
    """The head revision(s) of the migrations shipped with this code."""
    from alembic.script import ScriptDirectory

    location = script_location or _find_script_location()
    return set(ScriptDirectory(str(location)).get_heads())


def _find_script_location() -> Path:
    # Images run from /app with alembic/ beside the installed package; a checkout has it at the root.
    for candidate in (Path.cwd() / "alembic", Path(__file__).resolve().parents[2] / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the alembic/ directory with the migrations")


def _migration_problems(engine: Engine, script_location: Path | None) -> list[str]:
    try:
        heads = migration_heads(script_location)
    except FileNotFoundError:
        return ["cannot tell whether migrations are current: alembic/ is not shipped with this process"]
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": VERSION_TABLE}):
            return ["migrations behind head: the database was never migrated (run alembic upgrade head)"]
        current = set(conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    if current != heads:
        return [f"migrations behind head: database at {', '.join(sorted(current)) or 'base'}, "
                f"code expects {', '.join(sorted(heads))} (run alembic upgrade head)"]
    return []


def _registered_workspaces(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(
            "SELECT count(*) FROM deltashare.tenant_regions WHERE is_current AND NOT is_deleted"
        )) or 0


def _queue_mismatch(settings: Settings, heartbeats: Sequence[ProcessBeat]) -> list[str]:
    """Compare with the most recently started live worker: that is the one taking messages now."""
    workers = [b for b in heartbeats if b.service == "worker" and not b.stale]
    if not workers:
        return []  # none running (KEDA scales workers to zero): nothing to disagree with
    worker = workers[0]
    problems = []
    if worker.queue_backend != settings.queue_backend:
        problems.append(f"queue backend differs: the API writes to {settings.queue_backend!r}, the worker "
                        f"{worker.instance} reads {worker.queue_backend!r}")
    elif worker.queue_name != settings.azure_queue_name:
        problems.append(f"queue differs: the API writes to {settings.azure_queue_name!r}, the worker "
                        f"{worker.instance} reads {worker.queue_name!r}")
    return problems


# -- the container HEALTHCHECK ----------------------------------------------------------------------------


def heartbeat_is_fresh(engine: Engine, service: str, instance: str | None = None) -> bool:
    instance = instance or socket.gethostname()
    return any(b.service == service and b.instance == instance and not b.stale for b in read_heartbeats(engine))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m shared.platform.health heartbeat <service>`: exit 0 if this host's process of `service` beats."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "heartbeat":
        print("usage: python -m shared.platform.health heartbeat <service>", file=sys.stderr)
        return 2
    from shared.platform.db import database_url, make_engine

    engine = make_engine(database_url(Settings.from_env()), pool_size=1, application_name="sharepack-health")
    try:
        fresh = heartbeat_is_fresh(engine, args[1])
    except SQLAlchemyError:
        fresh = False
    finally:
        engine.dispose()
    print("fresh" if fresh else "stale or missing")
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
