"""The transactional outbox: publish right after the commit, or later by the relay; never lose a message."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from dev.devserver.ready import free_port
from shared.models.runtime import OutboxMessage
from shared.platform.db import make_session_factory
from shared.queue.azure import AzureStorageQueue
from shared.queue.interface import MessageQueue
from shared.queue.messages import ProvisionSharePack
from shared.queue.outbox import OutboxPublisher, OutboxRelay, add_to_outbox, publish_pending, purge_published
from tests.integration.queue.conftest import QueueMaker, unique_queue_name
from tests.support.azurite import AzuriteQueueService
from tests.support.waiting import wait_for


def upload(session_factory: sessionmaker[Session], queue_name: str) -> tuple[int, ProvisionSharePack]:
    """What the API's upload transaction does with the outbox: add the row, commit."""
    message = ProvisionSharePack(share_pack_id=uuid.uuid4(), request_id=uuid.uuid4().hex)
    with session_factory.begin() as session:
        row = add_to_outbox(session, queue_name=queue_name, message=message)
    return row.id, message


def outbox_row(session_factory: sessionmaker[Session], outbox_id: int) -> OutboxMessage:
    with session_factory() as session:
        return session.get_one(OutboxMessage, outbox_id)


def drain(queue: MessageQueue) -> list[ProvisionSharePack]:
    """Receive and delete everything in the queue, decoded."""
    messages = []
    while (received := queue.receive(visibility_timeout=60)) is not None:
        messages.append(ProvisionSharePack.from_json(received.content))
        queue.delete(received)
    return messages


def test_add_to_outbox_flushes_but_leaves_the_commit_to_the_caller(
    queue_session_factory: sessionmaker[Session],
) -> None:
    message = ProvisionSharePack(share_pack_id=uuid.uuid4())
    with queue_session_factory() as session:
        row = add_to_outbox(session, queue_name=unique_queue_name(), message=message)
        assert row.id is not None
        assert row.published_at is None
        session.rollback()  # the upload failed after the outbox row was added

    with queue_session_factory() as session:
        assert session.get(OutboxMessage, row.id) is None


def test_the_publisher_sends_a_committed_row_right_away_and_marks_it(
    queue: MessageQueue, queue_session_factory: sessionmaker[Session]
) -> None:
    publisher = OutboxPublisher(queue_session_factory, queue, sweep_interval=60).start()
    try:
        outbox_id, message = upload(queue_session_factory, queue.name)
        publisher.notify(outbox_id)
        wait_for(lambda: outbox_row(queue_session_factory, outbox_id).published_at is not None, timeout=5,
                 what="the row to be published")
        publisher.notify(outbox_id)  # a second notice for a published row sends nothing
        # Notices are handled in order: once a later row is published, the second notice has been handled.
        later_id, later = upload(queue_session_factory, queue.name)
        publisher.notify(later_id)
        wait_for(lambda: outbox_row(queue_session_factory, later_id).published_at is not None, timeout=5,
                 what="the later row to be published")
    finally:
        publisher.stop()
    received = drain(queue)  # each once (a queue need not keep the order of sending)
    assert sorted(m.share_pack_id.hex for m in received) == sorted([message.share_pack_id.hex, later.share_pack_id.hex])


def test_an_upload_while_the_queue_is_down_is_published_by_the_sweep_later(
    private_azurite: AzuriteQueueService, queue_session_factory: sessionmaker[Session]
) -> None:
    queue = AzureStorageQueue.from_connection_string(private_azurite.connection_string, unique_queue_name())
    queue.ensure_exists()
    private_azurite.stop()
    publisher = OutboxPublisher(queue_session_factory, queue, sweep_interval=0.3).start()
    try:
        outbox_id, message = upload(queue_session_factory, queue.name)
        publisher.notify(outbox_id)
        wait_for(lambda: outbox_row(queue_session_factory, outbox_id).attempts >= 2, timeout=5,
                 what="a second attempt")  # notice, then sweeps
        row = outbox_row(queue_session_factory, outbox_id)
        assert row.published_at is None and "unavailable" in (row.last_error or "")

        private_azurite.start()
        wait_for(lambda: outbox_row(queue_session_factory, outbox_id).published_at is not None, timeout=10,
                 what="the row to be published")
    finally:
        publisher.stop()
    assert drain(queue) == [message]


def test_a_failed_send_is_recorded_and_the_relay_publishes_it_when_the_queue_is_back(
    private_azurite: AzuriteQueueService, queue_session_factory: sessionmaker[Session]
) -> None:
    queue = AzureStorageQueue.from_connection_string(private_azurite.connection_string, unique_queue_name())
    queue.ensure_exists()
    relay = OutboxRelay(queue_session_factory, queue)
    private_azurite.stop()

    outbox_id, message = upload(queue_session_factory, queue.name)
    started = time.monotonic()
    assert relay.run_once() == 0
    assert time.monotonic() - started < 4  # a dead queue fails fast
    row = outbox_row(queue_session_factory, outbox_id)
    assert row.published_at is None and row.attempts == 1

    private_azurite.start()
    assert relay.run_once() == 1
    assert outbox_row(queue_session_factory, outbox_id).published_at is not None
    assert drain(queue) == [message]
    assert relay.run_once() == 0


def test_the_publisher_survives_an_unreachable_database(queue: MessageQueue) -> None:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")
    with capture_logs() as logs:
        publisher = OutboxPublisher(make_session_factory(engine), queue, sweep_interval=0.2).start()
        try:
            publisher.notify(1)  # fails, then each sweep fails
            wait_for(lambda: sum(log["event"] == "outbox.publisher_failed" for log in logs) >= 2, timeout=10,
                     what="the notice and a sweep to fail")
            assert publisher.is_alive
        finally:
            publisher.stop()
            engine.dispose()


def test_a_relay_for_one_queue_leaves_other_queues_rows_alone(
    new_queue: QueueMaker, queue_session_factory: sessionmaker[Session]
) -> None:
    mine, other = new_queue(), new_queue()
    _, my_message = upload(queue_session_factory, mine.name)
    other_id, _ = upload(queue_session_factory, other.name)

    assert publish_pending(queue_session_factory, mine) == 1

    assert drain(mine) == [my_message]
    assert outbox_row(queue_session_factory, other_id).published_at is None
    assert other.approximate_count() == 0


def test_two_relays_at_once_publish_every_row_exactly_once(
    queue: MessageQueue, queue_session_factory: sessionmaker[Session]
) -> None:
    uploads = [upload(queue_session_factory, queue.name) for _ in range(40)]
    relays = [OutboxRelay(queue_session_factory, queue, batch_size=5) for _ in range(2)]
    start = threading.Barrier(len(relays))
    counts: list[int] = []

    def run(relay: OutboxRelay) -> None:
        start.wait()
        total = 0
        while (published := relay.run_once()) or pending(queue_session_factory, queue.name):
            total += published
        counts.append(total)

    threads = [threading.Thread(target=run, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(counts) == len(uploads)
    received = drain(queue)
    by_pack = sorted(received, key=lambda m: str(m.share_pack_id))
    assert by_pack == sorted((m for _, m in uploads), key=lambda m: str(m.share_pack_id))  # rows == messages


def test_the_relay_thread_publishes_in_the_background_and_stops_on_request(
    queue: MessageQueue, queue_session_factory: sessionmaker[Session]
) -> None:
    stop = threading.Event()
    relay = OutboxRelay(queue_session_factory, queue)
    thread = threading.Thread(target=relay.run_forever, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        outbox_id, message = upload(queue_session_factory, queue.name)
        deadline = time.monotonic() + 10
        while outbox_row(queue_session_factory, outbox_id).published_at is None:
            assert time.monotonic() < deadline, "the relay did not publish the row"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)

    assert not thread.is_alive()
    assert drain(queue) == [message]


def pending(session_factory: sessionmaker[Session], queue_name: str) -> int:
    """Unpublished outbox rows for `queue_name`."""
    with session_factory() as session:
        stmt = select(func.count()).where(OutboxMessage.queue_name == queue_name, OutboxMessage.published_at.is_(None))
        return session.scalar(stmt) or 0


def test_purge_deletes_only_rows_published_long_ago(queue_session_factory: sessionmaker[Session]) -> None:
    name = unique_queue_name()
    old_id, _ = upload(queue_session_factory, name)
    recent_id, _ = upload(queue_session_factory, name)
    pending_id, _ = upload(queue_session_factory, name)
    with queue_session_factory.begin() as session:
        session.get_one(OutboxMessage, old_id).published_at = datetime.now(UTC) - timedelta(days=8)
        session.get_one(OutboxMessage, recent_id).published_at = datetime.now(UTC) - timedelta(days=1)
        session.get_one(OutboxMessage, pending_id).created_at = datetime.now(UTC) - timedelta(days=30)

    assert purge_published(queue_session_factory) >= 1

    with queue_session_factory() as session:
        assert session.get(OutboxMessage, old_id) is None
        assert session.get(OutboxMessage, recent_id) is not None
        assert session.get(OutboxMessage, pending_id) is not None  # never published: kept, however old
