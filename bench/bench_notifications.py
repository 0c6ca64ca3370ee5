"""Notification delivery throughput: the sync service's bookkeeping against bare SMTP, in the same run.

Starts the embedded PostgreSQL (migrated) and the local aiosmtpd server, then, per run:

* **baseline**: N messages of the same size sent with bare `smtplib`, one connection each (what the
  transport does), with no database at all: the ceiling of SMTP on this machine;
* **delivery**: N PENDING notifications (a tenth of them ACTIVATION mails with an encrypted link) delivered
  by `NotificationDeliverer.deliver_due`: claim committed before sending, template rendering, decryption,
  outcome and history recorded after.

Prints the medians of `--runs` runs and the ratio, checks every notification was mailed exactly once, and
exits 1 if a goal is missed: >= 10 mails/s (a pack of 1,000 D2O recipients has its links mailed within two
minutes), every notification exactly once.

    .venv/bin/python -m bench.bench_notifications [--notifications 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from dev.devserver.ready import free_port
from dev.devstack.mailserver import MailDrop, start_mail_server
from shared.models import Notification
from shared.notifications.activation_links import ActivationLinkCipher, store_activation_link
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.platform.db import make_engine, make_session_factory
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.platform.logging import configure_logging
from tests.support.postgres import migrated_database_url

ROOT = Path(__file__).resolve().parents[1]

SENDER = "bench@workflow.example"


def baseline(port: int, count: int) -> float:
    """Seconds to send `count` comparable messages with bare smtplib."""
    started = time.perf_counter()
    for i in range(count):
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = f"pack-{i} completed", SENDER, f"r{i}@example.com"
        message.set_content("Share pack completed: 3 steps done\n" * 10)
        message.add_alternative("<p>Share pack completed: 3 steps done</p>" * 10, subtype="html")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
    return time.perf_counter() - started


def seed(session_factory, cipher: ActivationLinkCipher, count: int) -> None:
    with session_factory.begin() as session:
        rows = session.execute(
            insert(Notification).returning(Notification.notification_id, Notification.notification_type),
            [
                {
                    "notification_type": "RECIPIENT_ACTIVATION" if i % 10 == 0 else "PROVISION_SUCCESS",
                    "recipient_email": f"r{i}@example.com",
                    "subject": f"pack-{i} completed",
                    "body": "Share pack completed: 3 steps done",
                    "related_entity_type": "share_pack",
                    "related_entity_id": uuid.uuid4(),
                }
                for i in range(count)
            ],
        ).all()
        for notification_id, kind in rows:
            if kind == "RECIPIENT_ACTIVATION":
                store_activation_link(
                    session,
                    cipher,
                    notification_id=notification_id,
                    workspace_url="http://127.0.0.1:8001",
                    recipient_name="acme",
                    link=f"http://127.0.0.1:8001/delta_sharing/retrieve_config.html?{uuid.uuid4()}",
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.notifications
    configure_logging(json=True, level="WARNING")

    mailbox = MailDrop()
    port = free_port()
    controller = start_mail_server(mailbox, port=port)
    cipher = ActivationLinkCipher([Fernet.generate_key().decode()])
    base_times, delivery_times, exact = [], [], True
    with tempfile.TemporaryDirectory(prefix="sp-bench-", dir="/tmp") as tmp:
        server = start_embedded_postgres(Path(tmp) / "pg")
        try:
            for _ in range(args.runs):
                url = migrated_database_url(server, prefix="benchmail")
                engine = make_engine(url)
                session_factory = make_session_factory(engine)
                mailbox.clear()
                base_times.append(baseline(port, n))
                mailbox.clear()
                seed(session_factory, cipher, n)
                deliverer = NotificationDeliverer(
                    session_factory=session_factory,
                    transport=SmtpTransport("127.0.0.1", port, timeout_seconds=10),
                    sender=SENDER,
                    cipher=cipher,
                    max_attempts=5,
                    retry_delay_seconds=60,
                )
                started = time.perf_counter()
                counts = deliverer.deliver_due()
                delivery_times.append(time.perf_counter() - started)
                ids = [m["Message-ID"] for m in mailbox.wait_for(n, timeout=60)]
                with engine.connect() as conn:
                    sent = conn.scalar(select(func.count()).where(Notification.status == "SENT"))
                exact &= counts.sent == n == sent == len(ids) == len(set(ids))
                engine.dispose()
        finally:
            controller.stop()

    base, delivery = statistics.median(base_times), statistics.median(delivery_times)
    rate = n / delivery
    ratio = delivery / base
    print(f"machine: {os.cpu_count()} cores; {n} notifications (10% ACTIVATION, encrypted); median of {args.runs} runs")
    print(f"bare smtplib (baseline): {base:.2f} s = {n / base:.0f} mails/s")
    print(f"NotificationDeliverer:   {delivery:.2f} s = {rate:.0f} mails/s  ({ratio:.2f}x the baseline's time)")
    print(f"every notification mailed exactly once, with a unique Message-ID: {exact}")
    goals = rate >= 10 and exact
    print(f"goals (>= 10 mails/s, exactly once): {'met' if goals else 'NOT met'}")
    return 0 if goals else 1


if __name__ == "__main__":
    sys.exit(main())
