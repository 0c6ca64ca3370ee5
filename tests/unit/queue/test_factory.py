"""Choosing the queue backend from settings (building a client opens no connection)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings
from shared.queue.azure import AzureStorageQueue
from shared.queue.factory import make_queue, poison_queue_name
from shared.queue.interface import MessageQueue
from shared.queue.postgres import PostgresQueue

AZURE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


def test_the_postgres_backend_uses_the_engine_and_the_configured_name() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")

    queue = make_queue(Settings(queue_backend="postgres"), engine)

    assert isinstance(queue, PostgresQueue)
    assert isinstance(queue, MessageQueue)
    assert queue.name == "sharepack-processing"


def test_the_azure_backend_takes_an_explicit_name() -> None:
    settings = Settings(queue_backend="azure", azure_queue_connection_string=AZURE_CONNECTION_STRING)

    queue = make_queue(settings, None, name=poison_queue_name(settings.azure_queue_name))

    assert isinstance(queue, AzureStorageQueue)
    assert isinstance(queue, MessageQueue)
    assert queue.name == "sharepack-processing-poison"


def test_the_postgres_backend_needs_an_engine() -> None:
    with pytest.raises(ConfigurationError):
        make_queue(Settings(queue_backend="postgres"), None)


def test_an_unknown_backend_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="queue_backend"):
        make_queue(Settings(queue_backend="rabbitmq"), None)
