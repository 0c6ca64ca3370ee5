"""`python -m sync` as a process: instances never overlap, every notification is mailed once, SIGTERM interrupts."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, insert, select

from shared.models import Notification, SyncJob
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.platform.db import make_engine, make_session_factory
from tests.support.postgres import migrated_database_url
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def service_database(postgres_server_url: str) -> Iterator[tuple[str, Engine]]:
    url = migrated_database_url(postgres_server_url, prefix="sync")
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def start_service(
    service_database: tuple[str, Engine], smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    url, _ = service_database
    processes: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DOMAIN_DB_CONNECTION_STRING": url,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "NOTIFICATION_FROM": "sharepack@workflow.example",
        "ACTIVATION_LINK_KEYS": Fernet.generate_key().decode(),
        "SYNC_SCHEDULE_NOTIFICATIONS": "1",
        "SYNC_TICK_SECONDS": "0.2",
        "LOG_FORMAT": "json",
    }

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"sync-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "sync"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _add_pending(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Notification),
            [
                {
                    "notification_type": "PROVISION_SUCCESS",
                    "recipient_email": f"requestor{i}@example.com",
                    "subject": f"pack-{i} completed",
                    "body": "done",
                    "related_entity_type": "share_pack",
                    "related_entity_id": uuid.uuid4(),
                }
                for i in range(count)
            ],
        )


def _runs(engine: Engine) -> list[SyncJob]:
    """The NOTIFICATIONS runs (other job types run beside them and may overlap them)."""
    with engine.connect() as conn:
        return list(
            conn.execute(select(SyncJob).where(SyncJob.sync_type == "NOTIFICATIONS").order_by(SyncJob.started_at))
        )


def test_two_instances_never_overlap_and_mail_each_notification_once(service_database, start_service, smtp_server):
    _, engine = service_database
    _add_pending(engine, 60)
    first, second = start_service(), start_service()

    messages = smtp_server.mailbox.wait_for(60, timeout=60)
    wait_for(lambda: len([r for r in _runs(engine) if r.status == "COMPLETED"]) >= 3, timeout=30,
             what="three completed runs", poll_seconds=0.1)
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    assert [p.wait(timeout=30) for p in (first, second)] == [0, 0]

    message_ids = [m["Message-ID"] for m in messages]
    assert len(message_ids) == len(set(message_ids)) == 60
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Notification.status == "SENT")) == 60
    # Other job types (AD_USERS, AD_GROUPS) run alongside; only runs of one type must not overlap.
    runs = [r for r in _runs(engine) if r.completed_at is not None and r.sync_type == "NOTIFICATIONS"]
    for earlier, later in itertools.pairwise(runs):
        assert earlier.completed_at <= later.started_at, "two NOTIFICATIONS runs overlapped"
    assert sum(r.records_updated for r in runs) == 60


def test_sigterm_during_a_run_records_it_interrupted_and_exits_0(service_database, start_service, smtp_server):
    _, engine = service_database
    _add_pending(engine, 2000)
    process = start_service()

    smtp_server.mailbox.wait_for(1, timeout=60)
    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
    [run] = _runs(engine)
    assert run.status == "INTERRUPTED" and run.completed_at is not None
    assert 0 < run.records_processed < 2000
    with engine.connect() as conn:
        sent = conn.scalar(select(func.count()).where(Notification.status == "SENT"))
    assert run.records_updated == sent


def test_a_notification_locked_elsewhere_is_left_for_the_next_pass(service_database, smtp_server):
    _, engine = service_database
    _add_pending(engine, 1)
    deliverer = NotificationDeliverer(
        session_factory=make_session_factory(engine),
        transport=SmtpTransport(smtp_server.host, smtp_server.port, timeout_seconds=5),
        sender="sharepack@workflow.example",
        cipher=None,
        max_attempts=3,
        retry_delay_seconds=0,
    )
    with engine.connect() as other:  # another transaction holds the row
        other.execute(select(Notification).with_for_update())
        done = threading.Event()
        results = []
        thread = threading.Thread(target=lambda: (results.append(deliverer.deliver_due()), done.set()), daemon=True)
        thread.start()
        assert done.wait(30), "deliver_due kept retrying a row another transaction holds"
        other.rollback()
    assert results[0].attempted == 0 and smtp_server.mailbox.messages == []
    assert deliverer.deliver_due().sent == 1  # the next pass takes it
