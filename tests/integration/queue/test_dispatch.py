"""A move's message is queued in the move's own transaction: delivered once it commits, never if it rolls back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from dev.devserver.ready import free_port
from shared.models.runtime import OutboxMessage
from shared.queue.azure import AzureStorageQueue
from shared.queue.messages import ProvisionSharePack
from shared.queue.postgres import PostgresQueue
from shared.use_cases.publishing import InTransaction, ViaOutbox, dispatch_for
from tests.integration.queue.conftest import unique_queue_name
from tests.support.azurite import connection_string


@pytest.fixture
def queue(queue_engine: Engine) -> PostgresQueue:
    """A PostgreSQL queue on the database the sessions commit to."""
    return PostgresQueue(queue_engine, unique_queue_name())


def outbox_rows(session_factory: sessionmaker[Session], queue_name: str) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.queue_name == queue_name))


def test_the_message_is_received_only_once_the_move_commits(
    queue: PostgresQueue, queue_session_factory: sessionmaker[Session]
) -> None:
    message = ProvisionSharePack(share_pack_id=uuid.uuid4(), request_id="req-1", traceparent=None)
    with queue_session_factory.begin() as session:
        InTransaction(queue).send(session, message)
        assert queue.receive(visibility_timeout=30) is None, "seen by a worker before the move committed"

    received = queue.receive(visibility_timeout=30)
    assert received is not None
    assert ProvisionSharePack.from_json(received.content) == message
    assert outbox_rows(queue_session_factory, queue.name) == 0  # nothing for a publisher or the relay


def test_a_rolled_back_move_queues_nothing(
    queue: PostgresQueue, queue_session_factory: sessionmaker[Session]
) -> None:
    with pytest.raises(RuntimeError), queue_session_factory.begin() as session:
        InTransaction(queue).send(session, ProvisionSharePack(share_pack_id=uuid.uuid4()))
        raise RuntimeError("the move failed after its message was written")

    assert queue.approximate_count() == 0


def test_the_outbox_hands_a_committed_row_to_the_publisher_and_a_rolled_back_one_to_nobody(
    queue_session_factory: sessionmaker[Session],
) -> None:
    published: list[int] = []
    dispatch = ViaOutbox(unique_queue_name(), published.append)
    with pytest.raises(RuntimeError), queue_session_factory.begin() as session:
        dispatch.send(session, ProvisionSharePack(share_pack_id=uuid.uuid4()))
        raise RuntimeError("rolled back")
    assert published == []

    with queue_session_factory.begin() as session:
        dispatch.send(session, ProvisionSharePack(share_pack_id=uuid.uuid4()))
        dispatch.send(session, ProvisionSharePack(share_pack_id=uuid.uuid4()))
    assert len(published) == 2 and outbox_rows(queue_session_factory, dispatch.queue_name) == 2


def test_each_queue_gets_the_dispatch_for_where_it_lives(queue: PostgresQueue) -> None:
    assert dispatch_for(queue, publish=print) == InTransaction(queue)
    azure = AzureStorageQueue.from_connection_string(connection_string(free_port()), "provisioning")
    assert dispatch_for(azure, publish=print) == ViaOutbox("provisioning", print)
