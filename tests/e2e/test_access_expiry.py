"""End to end: a grant with `expires_on` is reminded 14, 3 and 1 days before (once each), and at expiry the
ACCESS_EXPIRY job queues a new pack version that a real worker applies against the emulator; the requestor is
mailed over real SMTP and the pack's history says why.

The job runs in process with a moved clock (`now`), never waiting for the date; the worker is a child process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from shared.models import AccessExpiry
from shared.notifications.activation_links import ActivationLinkCipher
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.platform.db import make_session_factory
from shared.use_cases.access_expiry import AccessExpiryWatch
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.transitions import Workflow
from tests.e2e.conftest import Stack
from tests.e2e.test_provisioning import METASTORE_ID, pack, workspace
from tests.support.smtp import SmtpServer


def deliver(stack: Stack, engine: Engine, smtp: SmtpServer) -> list:
    """Send every pending mail to the SMTP sink, as the NOTIFICATIONS job does; the ACCESS_EXPIRY ones arrived."""
    NotificationDeliverer(
        session_factory=make_session_factory(engine), transport=SmtpTransport(smtp.host, smtp.port),
        sender="sharepack@workflow.example",
        cipher=ActivationLinkCipher((stack.worker_env["ACTIVATION_LINK_KEYS"],)),
        max_attempts=3, retry_delay_seconds=1,
    ).deliver_due()
    return [m for m in smtp.mailbox.messages if m["X-Notification-Type"] == "ACCESS_EXPIRY"]


def test_an_expired_grant_is_revoked_by_a_new_version_and_the_requestor_is_told(
    stack: Stack, engine: Engine, smtp_server: SmtpServer
):
    stack.start_worker()
    expires = (datetime.now(UTC) + timedelta(days=20)).date()
    due = datetime(expires.year, expires.month, expires.day, tzinfo=UTC)
    share_pack_id = stack.upload(pack(shares=f"""
  - name: sales-share
    recipients: [acme-analytics, partner-lakehouse]
    expires_on: {{partner-lakehouse: {expires.isoformat()}}}
    data_objects: [sales.reporting.orders]
  - name: finance-share
    recipients: [partner-lakehouse]
    data_objects: [finance.ledger.entries]
"""))
    first = stack.wait_final(share_pack_id)
    assert first["Status"] == "COMPLETED", first
    assert workspace(stack).grants["sales-share"] == {"acme-analytics", "partner-lakehouse"}

    sessions = make_session_factory(engine)
    with sessions() as session:  # recorded when the pack completed
        [recorded] = session.scalars(select(AccessExpiry).where(AccessExpiry.share_pack_id.in_([share_pack_id])))
        assert (recorded.recipient_name, recorded.share_name, recorded.expires_at) == (
            "partner-lakehouse", "sales-share", due)

    def watch() -> AccessExpiryWatch:  # a fresh one each time: as a restarted sync service
        workflow = Workflow(sessions, ViaOutbox(stack.queue.name, lambda _id: None))  # the worker's relay
        return AccessExpiryWatch(sessions, workflow)

    # Reminders: 14, 3 and 1 days before, each once however often (and by however many processes) it runs.
    for moment, expected in [
        (due - timedelta(days=15), 0),
        (due - timedelta(days=14) + timedelta(hours=1), 1),
        (due - timedelta(days=13), 0),
        (due - timedelta(days=3), 1),
        (due - timedelta(days=2, hours=23), 0),
        (due - timedelta(hours=23), 1),
        (due - timedelta(hours=1), 0),
    ]:
        counts = watch().run(now=moment)
        assert (counts.reminders, counts.revoked) == (expected, 0), moment
    assert watch().run(now=due - timedelta(hours=1)).reminders == 0
    reminders = deliver(stack, engine, smtp_server)
    assert [m["Subject"].split(":")[0] for m in reminders] == [
        "Access ends in 14 day(s) or less", "Access ends in 3 day(s) or less", "Access ends in 1 day(s) or less"]
    assert {m["To"] for m in reminders} == {"jane.doe@example.com"}
    assert f"the grant of share sales-share to recipient partner-lakehouse ends on {expires}" in (
        reminders[0].get_body(("plain",)).get_content())

    # At expiry: a new version, queued through the outbox and applied by the worker.
    counts = watch().run(now=due + timedelta(minutes=5))
    assert counts.revoked == 1
    assert watch().run(now=due + timedelta(minutes=6)).revoked == 0  # queued once
    revoked = stack.wait_for(share_pack_id, lambda s: s["LastUpdated"] > first["LastUpdated"]
                             and s["Status"] in ("COMPLETED", "FAILED"))
    assert revoked["Status"] == "COMPLETED", revoked

    grants = workspace(stack).grants
    assert grants["sales-share"] == {"acme-analytics"}
    assert grants["finance-share"] == {"partner-lakehouse"}  # only the grant that expired is gone

    why = f"the grant of share sales-share to recipient partner-lakehouse expired on {expires}"
    history = stack.history(share_pack_id)
    lapse = next(v for v in history if why in (v["ChangeReason"] or ""))
    assert lapse["ChangeReason"].startswith("access lapsed: ") and lapse["IsConfiguration"]

    mails = deliver(stack, engine, smtp_server)
    [told] = [m for m in mails if m["Subject"].startswith("Access revoked")]
    assert told["To"] == "jane.doe@example.com"
    assert why in told.get_body(("plain",)).get_content()

    # The revoking version completed: nothing of this pack is left to expire.
    with sessions() as session:
        assert session.scalars(select(AccessExpiry).where(AccessExpiry.share_pack_id.in_([share_pack_id]))).all() == []


def test_an_expired_recipient_loses_every_grant_and_leaves_the_pack(stack: Stack, engine: Engine):
    stack.start_worker()
    expires = datetime.now(UTC) + timedelta(days=2, hours=5)
    share_pack_id = stack.upload(pack(recipients=f"""
  - name: acme-analytics
    type: D2O
    email: data@acme.example.com
  - name: partner-lakehouse
    type: D2D
    metastore_id: {METASTORE_ID}
    expires_on: "{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
"""))
    first = stack.wait_final(share_pack_id)
    assert first["Status"] == "COMPLETED", first
    sessions = make_session_factory(engine)
    watch = AccessExpiryWatch(sessions, Workflow(sessions, ViaOutbox(stack.queue.name, lambda _id: None)))

    assert watch.run(now=expires + timedelta(seconds=1)).revoked == 1

    done = stack.wait_for(share_pack_id, lambda s: s["LastUpdated"] > first["LastUpdated"]
                          and s["Status"] in ("COMPLETED", "FAILED"))
    assert done["Status"] == "COMPLETED", done
    grants = workspace(stack).grants
    assert grants["sales-share"] == {"acme-analytics"}
    assert "finance-share" not in grants  # its only grantee expired
    [lapse] = [v for v in stack.history(share_pack_id) if (v["ChangeReason"] or "").startswith("access lapsed")]
    assert lapse["ChangeReason"] == ("access lapsed: all access of recipient partner-lakehouse expired on "
                                     f"{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}")
