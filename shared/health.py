"""Health of the dependencies a process needs: the database (migrated) and the queue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db import verify_schema
from shared.errors import ServiceUnavailable
from shared.queue.interface import MessageQueue


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
    queue_connected = False
    try:
        queue.ping()
        queue_connected = True
    except ServiceUnavailable:
        problems.append("queue unreachable")
    return HealthReport(database_connected, queue_connected, tables, tuple(problems))
