"""Gauges read from the database and the queue when Prometheus scrapes, and their periodic log line.

The gauges (queue depth and oldest message age, poison depth, the oldest pack in progress, consecutive sync
failures, database reachability) are read by `StateCollector`, registered in the worker only: one process
answers them however many API replicas run. `SnapshotLogger` logs the same values as `monitoring.snapshot`
for Azure's log alerts. Kept apart from `shared.platform.metrics`, which every process (and the provisioner)
imports to count, so that counting does not load SQLAlchemy or the queue clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.queue.factory import poison_queue_name

log = get_logger(__name__)


class StateCollector(Collector):
    """Gauges read from the database and the queue on each scrape.

    Each read is its own query, so one failing (say, the queue) still lets the others answer; a database
    that cannot be reached is itself the gauge `sharepack_database_up 0`.
    """

    def __init__(self, engine: Engine, settings: Settings, *, service: str,
                 depth: Callable[[str], int] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.service = service
        self._depth = depth

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query the database; names are only known at collect time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self.snapshot()
        database = GaugeMetricFamily("sharepack_database_up", "1 if the database answers", labels=["service"])
        database.add_metric([self.service], 1.0 if snapshot["database_up"] else 0.0)
        yield database
        for name, key, help_text in (
            ("sharepack_queue_depth", "queue_depth", "Messages on the queue (approximate on Azure)"),
            ("sharepack_queue_oldest_message_age_seconds", "queue_oldest_message_age_seconds",
             "Age of the oldest message on the queue"),
            ("sharepack_poison_queue_depth", "poison_queue_depth", "Messages set aside as poison"),
        ):
            if snapshot.get(key) is not None:
                gauge = GaugeMetricFamily(name, help_text, labels=["queue"])
                queue = poison_queue_name(self.settings.azure_queue_name) if key.startswith("poison") \
                    else self.settings.azure_queue_name
                gauge.add_metric([queue], float(snapshot[key]))
                yield gauge
        if snapshot.get("oldest_in_progress_pack_age_seconds") is not None:
            yield GaugeMetricFamily("sharepack_oldest_in_progress_pack_age_seconds",
                                    "Age of the oldest share pack still IN_PROGRESS (0 when none)",
                                    value=float(snapshot["oldest_in_progress_pack_age_seconds"]))
        failures = snapshot.get("sync_consecutive_failures")
        if failures is not None:
            gauge = GaugeMetricFamily("sharepack_sync_consecutive_failures",
                                      "Failed runs in a row of each sync job type", labels=["sync_type"])
            for sync_type, count in sorted(failures.items()):
                gauge.add_metric([sync_type], float(count))
            yield gauge

    def snapshot(self) -> dict[str, object]:
        """The gauge values as one dict (also logged as `monitoring.snapshot` for Azure's log alerts)."""
        values: dict[str, object] = {"database_up": self._database_up()}
        if values["database_up"]:
            values["oldest_in_progress_pack_age_seconds"] = self._read(_OLDEST_IN_PROGRESS)
            failures = self._sync_failures()
            values["sync_consecutive_failures"] = failures
            values["sync_max_consecutive_failures"] = max(failures.values(), default=0) if failures else None
        values["queue_depth"] = self._queue_depth(self.settings.azure_queue_name)
        values["poison_queue_depth"] = self._queue_depth(poison_queue_name(self.settings.azure_queue_name))
        values["queue_oldest_message_age_seconds"] = self._oldest_message_age()
        return values

    def _database_up(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def _read(self, sql: str, **params: object) -> float | None:
        try:
            with self.engine.connect() as conn:
                value = conn.scalar(text(sql), params)
            return float(value or 0)
        except SQLAlchemyError:
            return None

    def _sync_failures(self) -> dict[str, int] | None:
        try:
            with self.engine.connect() as conn:
                return {row.sync_type: row.failures for row in conn.execute(text(_SYNC_FAILURES_IN_A_ROW))}
        except SQLAlchemyError:
            return None

    def _queue_depth(self, name: str) -> int | None:
        if self._depth is None:
            return None
        try:
            return self._depth(name)
        except Exception:  # a queue that cannot be read leaves its gauge out: absent, not a wrong zero
            log.warning("metrics.queue_unreadable", queue=name)
            return None

    def _oldest_message_age(self) -> float | None:
        if self.settings.queue_backend == "postgres":
            return self._read(_OLDEST_POSTGRES_MESSAGE, queue=self.settings.azure_queue_name)
        return _oldest_azure_message_age(self.settings)


_OLDEST_IN_PROGRESS = """
SELECT coalesce(extract(EPOCH FROM now() - min(created_at)), 0) FROM deltashare.share_packs
WHERE is_current AND share_pack_status = 'IN_PROGRESS'
"""
_OLDEST_POSTGRES_MESSAGE = """
SELECT coalesce(extract(EPOCH FROM now() - min(inserted_at)), 0) FROM workflow_runtime.queue_messages
WHERE queue_name = :queue
"""
# Per sync type: the failed runs since its last success (or since the start). Running jobs do not count.
_SYNC_FAILURES_IN_A_ROW = """
SELECT j.sync_type, count(*) FILTER (
    WHERE j.status IN ('FAILED', 'INTERRUPTED')
      AND j.started_at > coalesce(
          (SELECT max(s.started_at) FROM deltashare.sync_jobs s
           WHERE s.sync_type = j.sync_type AND s.status = 'COMPLETED'), '-infinity')
) AS failures
FROM deltashare.sync_jobs j
GROUP BY j.sync_type
"""


def _oldest_azure_message_age(settings: Settings) -> float | None:
    """Peek (without dequeuing) at the first message: Azure queues are roughly FIFO, so it is the oldest."""
    if not settings.azure_queue_connection_string:
        return None
    try:
        from azure.storage.queue import QueueClient

        client = QueueClient.from_connection_string(settings.azure_queue_connection_string,
                                                    settings.azure_queue_name)
        with client:
            peeked = client.peek_messages(max_messages=1)
        if not peeked or peeked[0].inserted_on is None:
            return 0.0
        return (datetime.now(UTC) - peeked[0].inserted_on).total_seconds()
    except Exception:  # the queue is down or the key is wrong: leave the gauge out
        log.warning("metrics.queue_unreadable", queue=settings.azure_queue_name)
        return None


class SnapshotLogger:
    """Logs the collector's values as `monitoring.snapshot` every `interval_seconds`, for KQL alerts."""

    def __init__(self, collector: StateCollector, interval_seconds: float = 60) -> None:
        self.collector = collector
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-snapshot", daemon=True)

    def start(self) -> SnapshotLogger:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            log.info("monitoring.snapshot", service=self.collector.service, **self.collector.snapshot())
