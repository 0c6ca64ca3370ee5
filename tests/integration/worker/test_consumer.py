"""The queue loop's settling rules, on the real PostgreSQL queue backend (same semantics as Azure)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from shared.queue.messages import ProvisionSharePack
from shared.queue.postgres import PostgresQueue
from shared.use_cases.provision import JobInterrupted, RetryLater
from worker.consumer import QueueConsumer

pytestmark = pytest.mark.integration


@pytest.fixture
def queues(engine) -> tuple[PostgresQueue, PostgresQueue]:
    name = f"consumer-{uuid.uuid4().hex[:10]}"
    return PostgresQueue(engine, name), PostgresQueue(engine, f"{name}-poison")


def consumer(queues, poisoned: list, *, visibility_timeout: int = 30, max_dequeue_count: int = 5) -> QueueConsumer:
    queue, poison = queues
    return QueueConsumer(
        queue=queue,
        poison_queue=poison,
        visibility_timeout=visibility_timeout,
        max_dequeue_count=max_dequeue_count,
        on_poison=lambda command, reason: poisoned.append((command, reason)),
        stop_requested=threading.Event(),
    )


def send(queue: PostgresQueue) -> ProvisionSharePack:
    command = ProvisionSharePack(share_pack_id=uuid.uuid4(), version=1, request_id="r-1")
    queue.send(command.to_json())
    return command


def test_empty_queue_returns_false(queues):
    assert consumer(queues, []).process_next(lambda c, h: None) is False


def test_a_finished_job_deletes_its_message(queues):
    queue, _ = queues
    sent = send(queue)
    seen: list[ProvisionSharePack] = []
    assert consumer(queues, []).process_next(lambda command, heartbeat: seen.append(command)) is True
    assert seen == [sent]
    assert queue.approximate_count() == 0


def test_retry_later_hides_the_message_for_the_back_off(queues):
    queue, _ = queues
    send(queue)

    def transient(command, heartbeat):
        raise RetryLater("throttled", delay_seconds=1)

    consumer(queues, []).process_next(transient)
    assert queue.receive(visibility_timeout=30) is None
    time.sleep(1.2)
    again = queue.receive(visibility_timeout=30)
    assert again is not None and again.dequeue_count == 2


def test_an_interrupted_job_releases_its_message_at_once(queues):
    queue, _ = queues
    send(queue)

    def interrupted(command, heartbeat):
        raise JobInterrupted("shutdown")

    consumer(queues, []).process_next(interrupted)
    assert queue.receive(visibility_timeout=30) is not None


def test_a_crashing_job_leaves_the_message_for_redelivery(queues):
    queue, _ = queues
    send(queue)

    def crash(command, heartbeat):
        raise RuntimeError("bug")

    consumer(queues, [], visibility_timeout=1).process_next(crash)
    assert queue.receive(visibility_timeout=30) is None  # still hidden
    time.sleep(1.2)
    assert queue.receive(visibility_timeout=30) is not None


def test_the_heartbeat_keeps_a_long_job_hidden(queues):
    queue, _ = queues
    send(queue)
    stolen: list[object] = []

    def long_job(command, heartbeat):
        for _ in range(5):
            time.sleep(0.5)  # 2.5 s in all, against a 1 s visibility timeout
            stolen.append(queue.receive(visibility_timeout=30))

    consumer(queues, [], visibility_timeout=1).process_next(long_job)
    assert stolen == [None] * 5
    assert queue.approximate_count() == 0  # deleted with the newest pop receipt


def test_too_many_attempts_poison_the_message_and_record_why(queues):
    queue, poison = queues
    sent = send(queue)
    poisoned: list = []
    for _ in range(2):  # two failed deliveries
        message = queue.receive(visibility_timeout=30)
        queue.release(message)
    ran: list = []
    consumer(queues, poisoned, max_dequeue_count=2).process_next(lambda c, h: ran.append(c))
    assert ran == []
    assert poisoned == [(sent, "Gave up after 2 attempts (max_dequeue_count)")]
    assert queue.approximate_count() == 0
    assert ProvisionSharePack.from_json(poison.receive(visibility_timeout=30).content) == sent


def test_an_unreadable_message_is_poisoned_without_running_a_job(queues):
    queue, poison = queues
    queue.send("not json at all")
    poisoned: list = []
    consumer(queues, poisoned).process_next(lambda c, h: pytest.fail("must not run"))
    assert poisoned[0][0] is None and poisoned[0][1].startswith("Unreadable queue message")
    assert poison.receive(visibility_timeout=30).content == "not json at all"
