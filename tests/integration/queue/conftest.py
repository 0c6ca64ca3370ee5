"""Fixtures for the queue tests: a database of their own, and queues with unique names on either backend.

These tests commit (the queue and the outbox work in their own transactions, from several threads), so
they use a freshly migrated database rather than the suite's savepoint-isolated one: rows they leave
behind can never show up in another area's counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from dev.devserver.ready import free_port
from shared.platform.db import make_engine, make_session_factory
from shared.queue.azure import AzureStorageQueue
from shared.queue.interface import MessageQueue
from shared.queue.postgres import PostgresQueue
from tests.support.azurite import connection_string
from tests.support.postgres import migrated_database_url

BACKENDS = ("azure", "postgres")

QueueMaker = Callable[[], MessageQueue]


def unique_queue_name() -> str:
    """A valid Azure queue name (lowercase, digits, hyphens) no other test uses."""
    return f"q-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def queue_engine(postgres_server_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head, private to the queue tests."""
    url = migrated_database_url(postgres_server_url, prefix="queue")
    engine = make_engine(url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def queue_session_factory(queue_engine: Engine) -> sessionmaker[Session]:
    """Real sessions that really commit (the outbox must be seen by other connections and threads)."""
    return make_session_factory(queue_engine)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def new_queue(request: pytest.FixtureRequest, backend: str) -> QueueMaker:
    """Return a function creating an empty, existing queue with a unique name on the backend under test."""

    def make() -> MessageQueue:
        queue: MessageQueue
        if backend == "azure":
            # Looked up lazily so a postgres-only run does not start Azurite.
            conn_str = request.getfixturevalue("azurite_connection_string")
            queue = AzureStorageQueue.from_connection_string(conn_str, unique_queue_name())
        else:
            queue = PostgresQueue(request.getfixturevalue("queue_engine"), unique_queue_name())
        queue.ensure_exists()
        return queue

    return make


@pytest.fixture
def queue(new_queue: QueueMaker) -> MessageQueue:
    """An empty queue on the backend under test."""
    return new_queue()


@pytest.fixture
def unreachable_queue(backend: str) -> Iterator[MessageQueue]:
    """A queue on the backend under test whose server does not answer (nothing listens on its port)."""
    port = free_port()
    if backend == "azure":
        yield AzureStorageQueue.from_connection_string(connection_string(port), unique_queue_name())
        return
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    yield PostgresQueue(engine, unique_queue_name())
    engine.dispose()
