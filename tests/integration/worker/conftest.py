"""The worker's consumer runs on either queue backend: reuse the queue tests' backends and database."""

from tests.integration.queue.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    backend,
    new_queue,
    queue_engine,
    queue_session_factory,
)
