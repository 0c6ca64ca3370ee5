"""The queue loop's settling rules, on both real queue backends (Azurite and PostgreSQL).

Time is real here (queue visibility is counted by the queue service), so tests wait for conditions with
deadlines; delays are the smallest the queues allow (whole seconds).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from dev.devserver.ready import free_port
from shared.platform.db import lock_key
from shared.platform.errors import ServiceUnavailable
from shared.queue.interface import MessageQueue, QueueMessage
from shared.queue.messages import ProvisionSharePack
from tests.integration.queue.conftest import QueueMaker
from tests.support.waiting import wait_for
from worker.consumer import QueueConsumer
from worker.jobs.provision import ProvisioningInterrupted, ProvisioningJob, RetryLater
from worker.retry_policy import RetryPolicy

# Attempt k waits base * 2**(k-1) seconds (random() == 1.0: the top of the jitter range), capped at 4.
POLICY = RetryPolicy(
    base_delay_seconds=1, max_delay_seconds=4, budget_seconds=3600, busy_delay_seconds=1, random=lambda: 1.0
)


@pytest.fixture
def queues(new_queue: QueueMaker) -> tuple[MessageQueue, MessageQueue]:
    return new_queue(), new_queue()


def consumer(
    queues: tuple[MessageQueue, MessageQueue],
    poisoned: list,
    *,
    visibility_timeout: int = 30,
    max_dequeue_count: int = 5,
    policy: RetryPolicy = POLICY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> QueueConsumer:
    queue, poison = queues
    return QueueConsumer(
        queue=queue,
        poison_queue=poison,
        visibility_timeout=visibility_timeout,
        max_dequeue_count=max_dequeue_count,
        on_poison=lambda command, reason: poisoned.append((command, reason)),
        stop_requested=threading.Event(),
        retry_policy=policy,
        clock=clock,
    )


def send(queue: MessageQueue, command: ProvisionSharePack | None = None) -> ProvisionSharePack:
    command = command or ProvisionSharePack(share_pack_id=uuid.uuid4(), request_id="r-1")
    queue.send(command.to_json())
    return command


def wait_for_message(queue: MessageQueue, timeout: float = 10, *, visibility_timeout: int = 30) -> QueueMessage:
    """Receive the next message, polling until it becomes visible; fail after `timeout` seconds."""
    return wait_for(lambda: queue.receive(visibility_timeout=visibility_timeout), timeout=timeout,
                    what=f"a message on {queue.name}", poll_seconds=0.1)


def transient(command: ProvisionSharePack, heartbeat: object) -> None:
    raise RetryLater("throttled")


def test_empty_queue_returns_false(queues):
    assert consumer(queues, []).process_next(lambda c, h: None) is False


def test_a_finished_job_deletes_its_message(queues):
    queue, _ = queues
    sent = send(queue)
    seen: list[ProvisionSharePack] = []
    with capture_logs() as logs:
        assert consumer(queues, []).process_next(lambda command, heartbeat: seen.append(command)) is True
    assert seen == [sent]
    assert queue.approximate_count() == 0
    assert [entry["event"] for entry in logs] == [  # the lines operators grep for, in order
        "Received 1 message(s)", f"Processing share pack: {sent.share_pack_id}", "Message deleted from queue",
    ]


def test_a_transient_failure_is_replaced_by_a_delayed_successor_with_a_fresh_dequeue_count(queues):
    queue, _ = queues
    sent = send(queue)
    before = datetime.now(UTC)

    consumer(queues, []).process_next(transient)

    assert queue.receive(visibility_timeout=30) is None  # hidden for the back-off
    successor = wait_for_message(queue)
    assert successor.dequeue_count == 1  # the transient failure spent nothing of the crash budget
    command = ProvisionSharePack.from_json(successor.content)
    assert command.share_pack_id == sent.share_pack_id and command.request_id == "r-1"
    assert command.transient_attempts == 1
    assert command.first_transient_failure_at is not None and command.first_transient_failure_at >= before
    assert queue.approximate_count() == 1  # the original is gone


def test_transient_failures_beyond_the_dequeue_budget_do_not_poison(queues):
    queue, poison = queues
    first_failure = datetime.now(UTC) - timedelta(minutes=30)
    send(queue, ProvisionSharePack(uuid.uuid4(), transient_attempts=9, first_transient_failure_at=first_failure))
    poisoned: list = []
    outage = consumer(queues, poisoned, max_dequeue_count=2)

    with capture_logs() as logs:
        for _ in range(3):  # three deliveries in a row fail, past max_dequeue_count=2
            wait_for(lambda: outage.process_next(transient), timeout=10, what="a message to process", poll_seconds=0.1)
    assert [e["attempt"] for e in logs if e["event"] == "queue.retry_later"] == [10, 11, 12]
    assert poisoned == [] and poison.approximate_count() == 0

    ran: list[ProvisionSharePack] = []
    wait_for(lambda: outage.process_next(lambda c, h: ran.append(c)), timeout=10, what="a message to process",
             poll_seconds=0.1)
    assert ran[0].transient_attempts == 12
    assert ran[0].first_transient_failure_at == first_failure  # the budget counts from the first failure
    assert queue.approximate_count() == 0


def test_the_back_off_grows_and_honours_retry_after(queues):
    with capture_logs() as logs:
        for attempt in range(1, 5):
            command = ProvisionSharePack(uuid.uuid4(), transient_attempts=attempt - 1)
            send(queues[0], command)
            consumer(queues, []).process_next(transient)
        send(queues[0])

        def throttled(command: ProvisionSharePack, heartbeat: object) -> None:
            raise RetryLater("429", retry_after_seconds=3)

        consumer(queues, []).process_next(throttled)
    delays = [entry["delay_seconds"] for entry in logs if entry["event"] == "queue.retry_later"]
    assert delays == [1, 2, 4, 4, 3]  # doubling, capped at 4; the first retry waits for Retry-After's 3 s


def test_a_spent_transient_budget_poisons_the_message_and_records_why(queues):
    queue, poison = queues
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    sent = send(queue, ProvisionSharePack(uuid.uuid4(), transient_attempts=40, first_transient_failure_at=long_ago))
    poisoned: list = []
    policy = RetryPolicy(base_delay_seconds=1, max_delay_seconds=4, budget_seconds=3600, busy_delay_seconds=1)

    consumer(queues, poisoned, policy=policy).process_next(transient)

    assert len(poisoned) == 1
    command, reason = poisoned[0]
    assert command == sent
    assert reason.startswith("Gave up after 41 transient failures over 7200 s (transient_retry_budget_seconds)")
    assert reason.endswith("last: throttled")
    assert queue.approximate_count() == 0
    assert ProvisionSharePack.from_json(poison.receive(visibility_timeout=30).content) == sent


@pytest.fixture
def unreachable_database() -> Engine:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("outage", ["database", "queue"])
def test_an_unreachable_database_or_queue_inside_the_job_is_waited_out_like_a_transient_failure(
    queues, unreachable_database, outage
):
    queue, _ = queues

    def job(command: ProvisionSharePack, heartbeat: object) -> None:
        if outage == "database":
            with unreachable_database.connect():  # raises sqlalchemy's OperationalError, as a stopped server does
                pytest.fail("nothing listens there")
        raise ServiceUnavailable("Queue q unavailable (send: ServiceRequestError)")

    send(queue)
    with capture_logs() as logs:
        consumer(queues, []).process_next(job)
    assert [e["event"] for e in logs if e["event"].startswith("queue.")] == ["queue.retry_later"]

    successor = wait_for_message(queue)
    assert ProvisionSharePack.from_json(successor.content).transient_attempts == 1
    assert successor.dequeue_count == 1


def test_a_statement_error_is_a_crash_not_an_outage(queues, queue_engine):
    queue, _ = queues
    send(queue)

    def bug(command: ProvisionSharePack, heartbeat: object) -> None:
        with queue_engine.connect() as conn:
            conn.execute(text("SELECT no_such_column FROM no_such_table"))

    consumer(queues, [], visibility_timeout=1).process_next(bug)

    again = wait_for_message(queue)
    assert again.dequeue_count == 2  # the same message, redelivered: a crash spends the crash budget
    assert ProvisionSharePack.from_json(again.content).transient_attempts == 0


def test_an_interrupted_job_releases_its_message_at_once(queues):
    queue, _ = queues
    send(queue)

    def interrupted(command, heartbeat):
        raise ProvisioningInterrupted("shutdown")

    consumer(queues, []).process_next(interrupted)
    assert queue.receive(visibility_timeout=30) is not None


def test_a_crashing_job_leaves_the_message_for_redelivery(queues):
    queue, _ = queues
    send(queue)

    def crash(command, heartbeat):
        raise RuntimeError("bug")

    consumer(queues, [], visibility_timeout=1).process_next(crash)
    assert queue.receive(visibility_timeout=30) is None  # still hidden
    assert wait_for_message(queue).dequeue_count == 2


def test_the_heartbeat_keeps_a_long_job_hidden(queues):
    queue, _ = queues
    send(queue)
    stolen: list[object] = []
    started = time.monotonic()

    def long_job(command, heartbeat):
        # Look for the message until well past its 1 s visibility timeout (the heartbeat must keep it hidden).
        while time.monotonic() - started < 3:
            stolen.append(queue.receive(visibility_timeout=30))
            time.sleep(0.3)

    consumer(queues, [], visibility_timeout=1).process_next(long_job)
    assert stolen and set(stolen) == {None}
    assert queue.approximate_count() == 0  # deleted with the newest pop receipt


def test_too_many_crashes_poison_the_message_and_record_why(queues):
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


def test_a_busy_pack_comes_back_later_without_spending_any_budget(
    queues, queue_engine: Engine, queue_session_factory: sessionmaker[Session]
):
    """Two real consumers and the real job: the second finds the pack locked by the first."""
    queue, poison = queues
    command = send(queue)
    send(queue, command)  # a duplicate, as a lost heartbeat or the sweeper can cause
    job = ProvisioningJob(
        session_factory=queue_session_factory,
        engine=queue_engine,
        gateway_for=lambda url: pytest.fail("the pack does not exist; no workspace is called"),
    )
    holding, finish = threading.Event(), threading.Event()

    def long_job(command: ProvisionSharePack, heartbeat: object) -> None:
        # The first worker's job: hold the pack's lock as ProvisioningJob.run does, until told to finish.
        with queue_engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(command.share_pack_id)})
            holding.set()
            finish.wait(20)
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(command.share_pack_id)})

    poisoned: list = []
    first = threading.Thread(target=consumer(queues, poisoned).process_next, args=(long_job,))
    first.start()
    try:
        assert holding.wait(10)
        with capture_logs() as logs:
            assert consumer(queues, poisoned).process_next(job.run)
        assert [e["event"] for e in logs if e["event"].startswith("queue.")] == ["queue.share_pack_busy"]
        assert queue.receive(visibility_timeout=30) is None  # not deleted: hidden for the busy delay
        assert queue.approximate_count() == 2  # the first worker's message and the busy one's successor
    finally:
        finish.set()
        first.join(20)

    successor = wait_for_message(queue)
    again = ProvisionSharePack.from_json(successor.content)
    assert again.transient_attempts == 0 and successor.dequeue_count == 1  # neither budget was spent
    queue.release(successor)
    with capture_logs() as logs:
        assert consumer(queues, poisoned).process_next(job.run)  # the lock is free now: the job runs
    assert "provision.unknown_share_pack" in [e["event"] for e in logs]
    assert queue.approximate_count() == 0 and poisoned == [] and poison.approximate_count() == 0
