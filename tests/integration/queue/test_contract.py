"""The one contract every queue backend honours, run against each: Azurite and real PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from shared.platform.errors import ServiceUnavailable
from shared.queue.azure import AzureStorageQueue
from shared.queue.interface import MessageLost, MessageQueue
from tests.integration.queue.conftest import QueueMaker, unique_queue_name
from tests.support.azurite import AzuriteQueueService
from tests.support.waiting import wait_for

# Azure counts visibility in whole seconds; wait comfortably past a 1 s timeout.
PAST_ONE_SECOND = 1.6


def test_a_sent_message_is_received_and_deleted(queue: MessageQueue) -> None:
    queue.send('{"hello": "world"}')

    message = queue.receive(visibility_timeout=30)

    assert message is not None
    assert message.content == '{"hello": "world"}'
    assert message.dequeue_count == 1
    assert message.pop_receipt
    queue.delete(message)
    assert queue.receive(visibility_timeout=30) is None
    assert queue.approximate_count() == 0


def test_an_empty_queue_returns_none(queue: MessageQueue) -> None:
    assert queue.receive(visibility_timeout=30) is None


def test_content_round_trips_unchanged(queue: MessageQueue) -> None:
    content = '{"text": "<tag> & \\"quotes\\" \' é ✓", "n": 1}'
    queue.send(content)

    message = queue.receive(visibility_timeout=30)

    assert message is not None
    assert message.content == content


def test_a_received_message_is_hidden_then_delivered_again(queue: MessageQueue) -> None:
    queue.send("job")
    first = queue.receive(visibility_timeout=1)
    assert first is not None

    assert queue.receive(visibility_timeout=1) is None
    time.sleep(PAST_ONE_SECOND)
    again = queue.receive(visibility_timeout=30)

    assert again is not None
    assert again.id == first.id
    assert again.dequeue_count == 2
    assert again.pop_receipt != first.pop_receipt
    with pytest.raises(MessageLost):  # the first consumer lost it to the second
        queue.delete(first)
    queue.delete(again)


def test_extend_keeps_a_message_hidden_and_changes_its_pop_receipt(queue: MessageQueue) -> None:
    queue.send("long job")
    message = queue.receive(visibility_timeout=1)
    assert message is not None

    extended = queue.extend(message, visibility_timeout=30)
    time.sleep(PAST_ONE_SECOND)

    assert extended.id == message.id
    assert extended.content == message.content
    assert extended.pop_receipt != message.pop_receipt
    assert queue.receive(visibility_timeout=30) is None
    with pytest.raises(MessageLost):
        queue.extend(message, visibility_timeout=30)
    with pytest.raises(MessageLost):
        queue.delete(message)
    queue.delete(extended)
    assert queue.approximate_count() == 0


def test_release_makes_a_message_visible_at_once(queue: MessageQueue) -> None:
    queue.send("job")
    message = queue.receive(visibility_timeout=300)
    assert message is not None

    queue.release(message)
    again = queue.receive(visibility_timeout=30)

    assert again is not None
    assert again.id == message.id
    assert again.dequeue_count == 2
    with pytest.raises(MessageLost):
        queue.release(message)


def test_a_deleted_message_cannot_be_deleted_or_extended_again(queue: MessageQueue) -> None:
    queue.send("job")
    message = queue.receive(visibility_timeout=30)
    assert message is not None
    queue.delete(message)

    with pytest.raises(MessageLost):
        queue.delete(message)
    with pytest.raises(MessageLost):
        queue.extend(message, visibility_timeout=30)


def test_approximate_count_includes_hidden_messages(queue: MessageQueue) -> None:
    for n in range(3):
        queue.send(f"m{n}")
    assert queue.receive(visibility_timeout=30) is not None

    assert queue.approximate_count() == 3


def test_queues_with_different_names_are_separate(new_queue: QueueMaker) -> None:
    first, second = new_queue(), new_queue()
    first.send("for the first queue")

    assert second.receive(visibility_timeout=30) is None
    assert second.approximate_count() == 0
    assert first.approximate_count() == 1


def test_concurrent_receivers_never_get_the_same_message(queue: MessageQueue) -> None:
    sent = {f"message-{n}" for n in range(24)}
    for content in sent:
        queue.send(content)
    received: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(len(received))

    def consume(mine: list[str]) -> None:
        start.wait()
        while (message := queue.receive(visibility_timeout=60)) is not None:
            mine.append(message.content)
            queue.delete(message)

    threads = [threading.Thread(target=consume, args=(mine,)) for mine in received]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = [content for mine in received for content in mine]
    assert sorted(everything) == sorted(sent)  # each message exactly once, none lost


def test_ping_succeeds_on_a_reachable_queue(queue: MessageQueue) -> None:
    queue.ping()


@pytest.mark.parametrize("operation", ["ping", "send", "receive", "approximate_count"])
def test_an_unreachable_backend_raises_service_unavailable_quickly(
    unreachable_queue: MessageQueue, operation: str
) -> None:
    calls = {
        "ping": unreachable_queue.ping,
        "send": lambda: unreachable_queue.send("lost?"),
        "receive": lambda: unreachable_queue.receive(visibility_timeout=30),
        "approximate_count": unreachable_queue.approximate_count,
    }
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable, match=unreachable_queue.name):
        calls[operation]()

    # The API publishes inline after an upload's commit: a dead queue must not hold the request long.
    assert time.monotonic() - started < 4


def test_azure_ping_fails_when_the_queue_does_not_exist(azurite_connection_string: str) -> None:
    queue = AzureStorageQueue.from_connection_string(azurite_connection_string, unique_queue_name())

    with pytest.raises(ServiceUnavailable, match="QueueNotFound"):
        queue.ping()
    queue.ensure_exists()
    queue.ensure_exists()  # idempotent
    queue.ping()


def test_azure_stopped_service_is_unavailable_then_back_with_its_messages(
    private_azurite: AzuriteQueueService,
) -> None:
    queue = AzureStorageQueue.from_connection_string(private_azurite.connection_string, unique_queue_name())
    queue.ensure_exists()
    queue.send("kept across a restart")

    private_azurite.stop()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        queue.ping()
    assert time.monotonic() - started < 4

    private_azurite.start()
    queue.ping()
    message = queue.receive(visibility_timeout=30)
    assert message is not None
    assert message.content == "kept across a restart"


def test_a_delayed_send_stays_hidden_for_the_delay_then_arrives_fresh(queue: MessageQueue) -> None:
    queue.send("later", delay_seconds=1)

    assert queue.receive(visibility_timeout=30) is None
    assert queue.approximate_count() == 1  # hidden, not lost
    message = wait_for(lambda: queue.receive(visibility_timeout=30), timeout=5, what="the delayed message")

    assert message.content == "later"
    assert message.dequeue_count == 1  # a delayed message has not been delivered before
