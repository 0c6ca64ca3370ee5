"""Build the configured queue backend; the one place that reads `queue_backend`."""

from __future__ import annotations

from sqlalchemy import Engine

from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings
from shared.queue.azure import AzureStorageQueue
from shared.queue.interface import MessageQueue
from shared.queue.postgres import PostgresQueue

POISON_SUFFIX = "-poison"


def poison_queue_name(name: str) -> str:
    """Return the name of the queue that holds `name`'s unprocessable messages."""
    return f"{name}{POISON_SUFFIX}"


def make_queue(settings: Settings, engine: Engine | None, *, name: str | None = None) -> MessageQueue:
    """Return the queue `name` (default: `settings.azure_queue_name`) on the configured backend.

    `engine` is the process's database engine; only the `postgres` backend uses it.
    """
    queue_name = name or settings.azure_queue_name
    if settings.queue_backend == "azure":
        if not settings.azure_queue_connection_string:
            raise ConfigurationError(
                "Missing setting azure_queue_connection_string: required when queue_backend is 'azure'"
            )
        return AzureStorageQueue.from_connection_string(settings.azure_queue_connection_string, queue_name)
    if settings.queue_backend == "postgres":
        if engine is None:
            raise ConfigurationError("The postgres queue backend needs the database engine")
        return PostgresQueue(engine, queue_name)
    raise ConfigurationError(f"Invalid setting queue_backend: {settings.queue_backend!r}")
