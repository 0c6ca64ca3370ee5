"""Upload -> queue -> worker -> workspace emulator, and every way that can go wrong."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.sharing import AuthenticationType
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from shared.models import AuditEntry, Notification, Recipient, Share
from shared.queue.azure import AzureStorageQueue

METASTORE_ID = "azure:westeurope:12345678-1234-1234-1234-123456789abc"


def pack(strategy: str = "NEW", *, recipients: str | None = None, shares: str | None = None) -> str:
    recipients = recipients if recipients is not None else f"""
  - name: acme-analytics
    type: D2O
    email: data@acme.example.com
    allowed_ips: [203.0.113.0/24, 198.51.100.7]
    token_expiry_days: 90
  - name: partner-lakehouse
    type: D2D
    metastore_id: {METASTORE_ID}
"""
    shares = shares if shares is not None else """
  - name: sales-share
    recipients: [acme-analytics, partner-lakehouse]
    data_objects: [sales.reporting.orders, sales.reporting.customers]
  - name: finance-share
    recipients: [partner-lakehouse]
    data_objects: [finance.ledger.entries]
"""
    return f"""
metadata:
  requestor: jane.doe@example.com
  project_name: Partner Analytics
  business_line: Finance
  strategy: {strategy}
recipient:{recipients}
share:{shares}
"""


@dataclass(frozen=True)
class Workspace:
    """The emulator's state, indexed the way these tests ask about it."""

    recipients: dict[str, dict]
    objects: dict[str, set[str]]
    grants: dict[str, set[str]]


def workspace(stack) -> Workspace:
    state = stack.emulator.state()
    return Workspace(
        recipients={r["name"]: r for r in state["recipients"]},
        objects={s["name"]: {o["name"] for o in s["objects"].values()} for s in state["shares"]},
        grants={
            share: {p for p, privileges in grants.items() if "SELECT" in privileges}
            for share, grants in state["grants"].items()
            if grants
        },
    )


def test_upload_reaches_completed_with_everything_in_the_workspace(stack, engine):
    stack.start_worker()
    share_pack_id = stack.upload(pack())
    final = stack.wait_final(share_pack_id)
    assert final["Status"] == "COMPLETED", final
    assert final["ProvisioningStatus"].startswith("Step 8/8")

    ws = workspace(stack)
    assert set(ws.recipients) == {"acme-analytics", "partner-lakehouse"}
    acme = ws.recipients["acme-analytics"]
    assert acme["authentication_type"] == "TOKEN"
    assert set(acme["ip_access_list"]) == {"203.0.113.0/24", "198.51.100.7"}
    assert ws.recipients["partner-lakehouse"]["data_recipient_global_metastore_id"] == METASTORE_ID
    assert ws.objects == {
        "sales-share": {"sales.reporting.orders", "sales.reporting.customers"},
        "finance-share": {"finance.ledger.entries"},
    }
    assert ws.grants == {"sales-share": {"acme-analytics", "partner-lakehouse"}, "finance-share": {"partner-lakehouse"}}

    steps = [v["ProvisioningStatus"] for v in stack.history(share_pack_id)]
    for k in range(1, 9):
        assert any(s and s.startswith(f"Step {k}/8") for s in steps), steps
    plan = stack.client.get(f"/workflow/sharepack/{share_pack_id}/plan", headers=stack.headers).json["Plan"]
    assert plan["summary"]["recipient_create"] == 2 and plan["summary"]["data_object_add"] == 3
    assert "retrieve_config" not in str(plan) and "retrieve_config" not in stack.worker_logs()

    # The recipients' rows carry the ids the workspace gave them.
    with engine.connect() as conn:
        recorded = dict(conn.execute(
            select(Recipient.recipient_name, Recipient.recipient_databricks_id).where(
                Recipient.is_current, Recipient.workspace_url == stack.emulator.url)
        ).all())
    assert recorded == {name: r["id"] for name, r in ws.recipients.items()} and all(recorded.values())
    # The worker process names its connections, so an operator can tell them apart in pg_stat_activity.
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT application_name FROM pg_stat_activity "
                                      "WHERE datname = current_database()")))
    assert "sharepack-worker" in names, names


def test_update_adds_and_removes_objects_and_recipients(stack, engine):
    stack.start_worker()
    assert stack.wait_final(stack.upload(pack()))["Status"] == "COMPLETED"

    update = pack(
        "UPDATE",
        recipients=f"""
  - name: partner-lakehouse
    type: D2D
    metastore_id: {METASTORE_ID}
  - name: new-partner
    type: D2O
    email: new@partner.example.com
""",
        shares="""
  - name: sales-share
    recipients: [partner-lakehouse, new-partner]
    data_objects: [sales.reporting.orders, sales.reporting.returns]
""",
    )
    final = stack.wait_final(stack.upload(update))
    assert final["Status"] == "COMPLETED", final
    ws = workspace(stack)
    assert ws.objects["sales-share"] == {"sales.reporting.orders", "sales.reporting.returns"}
    assert ws.grants["sales-share"] == {"partner-lakehouse", "new-partner"}
    assert "new-partner" in ws.recipients
    # Not named by the update, so left alone:
    assert "acme-analytics" in ws.recipients and "finance-share" in ws.objects

    with sessionmaker(engine)() as session:
        share = session.scalars(
            select(Share).where(Share.share_name == "sales-share", Share.is_current,
                                Share.workspace_url == stack.emulator.url)
        ).one()
        assert share.version == 2
        assert {a["name"] for a in share.share_assets} == {"sales.reporting.orders", "sales.reporting.returns"}


def test_delete_removes_named_shares_and_recipients(stack, engine):
    stack.start_worker()
    assert stack.wait_final(stack.upload(pack()))["Status"] == "COMPLETED"
    delete = pack("DELETE", recipients="\n  - name: acme-analytics\n", shares="\n  - name: sales-share\n")
    final = stack.wait_final(stack.upload(delete))
    assert final["Status"] == "COMPLETED", final
    ws = workspace(stack)
    assert "sales-share" not in ws.objects and "acme-analytics" not in ws.recipients
    assert "finance-share" in ws.objects and "partner-lakehouse" in ws.recipients
    with sessionmaker(engine)() as session:
        row = session.scalars(
            select(Recipient).where(Recipient.recipient_name == "acme-analytics", Recipient.is_current,
                                    Recipient.workspace_url == stack.emulator.url)
        ).one()
        assert row.is_deleted


def test_a_429_storm_ends_in_success(stack):
    stack.emulator.inject_fault(method="PATCH", path_regex="/shares/", status=429,
                                error_code="REQUEST_LIMIT_EXCEEDED", message="Rate limit exceeded",
                                retry_after=0, times=4)
    stack.start_worker()
    final = stack.wait_final(stack.upload(pack()))
    assert final["Status"] == "COMPLETED", final
    assert sum(f["hits"] for f in stack.emulator.faults()) == 4


def test_permission_denied_fails_with_databricks_message(stack):
    stack.emulator.inject_fault(method="PATCH", path_regex="/shares/finance-share$", status=403,
                                error_code="PERMISSION_DENIED",
                                message="User does not have SELECT on Table 'finance.ledger.entries'", times=None)
    stack.start_worker()
    final = stack.wait_final(stack.upload(pack()))
    assert final["Status"] == "FAILED"
    assert "User does not have SELECT on Table 'finance.ledger.entries'" in final["ErrorMessage"]
    assert final["ErrorMessage"].startswith("Step 5/8")
    # What was done before the failure is in place and recorded.
    assert workspace(stack).objects["sales-share"] == {"sales.reporting.orders", "sales.reporting.customers"}


def test_kill_9_mid_pack_then_restart_converges_without_duplicates(stack, engine):
    many = "\n".join(f"      - sales.reporting.t{i:03d}" for i in range(250))
    stack.emulator.seed_tables([f"sales.reporting.t{i:03d}" for i in range(250)])
    stack.emulator.set_latency(150)
    shares = f"""
  - name: big-share
    recipients: [acme-analytics]
    data_objects:
{many}
"""
    recipients = """
  - name: acme-analytics
    type: D2O
    email: data@acme.example.com
"""
    worker = stack.start_worker()
    share_pack_id = stack.upload(pack(recipients=recipients, shares=shares))
    stack.wait_for(share_pack_id, lambda s: (s["ProvisioningStatus"] or "").startswith("Step 5/8"), timeout=60)
    time.sleep(0.2)  # inside the object batches
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert stack.status(share_pack_id)["Status"] == "IN_PROGRESS"

    stack.emulator.set_latency(0)
    stack.start_worker()
    final = stack.wait_final(share_pack_id, timeout=90)
    assert final["Status"] == "COMPLETED", final
    ws = workspace(stack)
    assert len(ws.objects["big-share"]) == 250
    assert set(ws.recipients) == {"acme-analytics"}
    creates = stack.emulator.requests(method="POST", path_contains="/recipients")
    assert sum(1 for r in creates if r["status"] == 200) == 1
    with sessionmaker(engine)() as session:
        current = session.scalar(
            select(func.count()).select_from(Share).where(Share.share_name == "big-share", Share.is_current,
                                                          Share.workspace_url == stack.emulator.url)
        )
        assert current == 1
        links = session.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.related_entity_id == share_pack_id,
                Notification.notification_type == "RECIPIENT_ACTIVATION",
            )
        )
        assert links >= 1


def test_poison_message_goes_to_the_poison_queue(stack):
    stack.queue.send('{"v": 99, "type": "something-else"}')
    stack.start_worker()
    poison_name = f"{stack.queue.name}-poison"
    poison = AzureStorageQueue.from_connection_string(stack.worker_env["AZURE_QUEUE_CONNECTION_STRING"], poison_name)
    deadline = time.monotonic() + 30
    message = None
    while message is None and time.monotonic() < deadline:
        try:
            message = poison.receive(visibility_timeout=30)
        except Exception:
            message = None
        time.sleep(0.2)
    assert message is not None and "something-else" in message.content
    assert stack.queue.approximate_count() == 0


def test_a_pack_that_fails_transiently_past_its_budget_is_poisoned_and_failed(stack):
    stack.emulator.inject_fault(path_regex="/recipients", status=503, error_code="TEMPORARILY_UNAVAILABLE",
                                message="Service unavailable", retry_after=0, times=None)
    stack.start_worker(MAX_DEQUEUE_COUNT="2", DATABRICKS_RETRY_TIMEOUT_SECONDS="1",
                       TRANSIENT_RETRY_MAX_DELAY_SECONDS="1", TRANSIENT_RETRY_BUDGET_SECONDS="8")
    share_pack_id = stack.upload(pack())
    final = stack.wait_final(share_pack_id, timeout=120)
    assert final["Status"] == "FAILED"
    assert "transient failures over" in final["ErrorMessage"]
    assert "(transient_retry_budget_seconds)" in final["ErrorMessage"]


def test_two_workers_on_one_queue_share_the_work(stack):
    stack.emulator.set_latency(30)
    stack.start_worker()
    stack.start_worker()
    ids = []
    for i in range(4):
        recipients = f"\n  - name: r{i}\n    type: D2O\n    email: r{i}@example.com\n"
        shares = f"\n  - name: s{i}\n    recipients: [r{i}]\n    data_objects: [sales.reporting.orders]\n"
        ids.append(stack.upload(pack(recipients=recipients, shares=shares)))
    for share_pack_id in ids:
        assert stack.wait_final(share_pack_id, timeout=90)["Status"] == "COMPLETED"
    assert set(workspace(stack).objects) == {"s0", "s1", "s2", "s3"}
    creates = [r for r in stack.emulator.requests(method="POST") if r["path"].endswith("/shares")]
    assert len([r for r in creates if r["status"] == 200]) == 4


def test_sigterm_stops_the_worker_between_steps_and_another_resumes(stack):
    tables = [f"sales.reporting.t{i:03d}" for i in range(250)]
    stack.emulator.seed_tables(tables)
    stack.emulator.set_latency(400)  # three object batches of ~0.4 s each: time to signal mid-step
    worker = stack.start_worker()
    many = "\n".join(f"      - {t}" for t in tables)
    shares = f"\n  - name: big-share\n    recipients: [acme-analytics]\n    data_objects:\n{many}\n"
    recipients = "\n  - name: acme-analytics\n    type: D2O\n    email: data@acme.example.com\n"
    share_pack_id = stack.upload(pack(recipients=recipients, shares=shares))
    stack.wait_for(share_pack_id, lambda s: (s["ProvisioningStatus"] or "").startswith("Step 5/8"), timeout=60)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    interrupted = stack.status(share_pack_id)
    assert interrupted["Status"] == "IN_PROGRESS"
    assert interrupted["ProvisioningStatus"] == "Interrupted before step 6/8; will resume"

    stack.emulator.set_latency(0)
    stack.start_worker()
    assert stack.wait_final(share_pack_id, timeout=60)["Status"] == "COMPLETED"
    assert len(workspace(stack).objects["big-share"]) == 250
    assert "worker.stop_requested" in stack.worker_logs()


def test_new_pack_that_conflicts_with_the_workspace_fails_with_the_conflicts(stack, engine):
    # Someone created "partner-lakehouse" by hand as an open-sharing recipient; the pack says D2D.
    client = WorkspaceClient(config=Config(host=stack.emulator.url, token="local-dev-token", auth_type="pat"))
    client.recipients.create(name="partner-lakehouse", authentication_type=AuthenticationType.TOKEN)
    stack.start_worker()
    final = stack.wait_final(stack.upload(pack()))
    assert final["Status"] == "FAILED"
    assert "conflicts" in final["ErrorMessage"] and "partner-lakehouse" in final["ErrorMessage"]
    ws = workspace(stack)
    assert ws.objects == {}  # nothing was applied
    assert ws.recipients["partner-lakehouse"]["authentication_type"] == "TOKEN"


def test_activation_links_reach_notifications_only(stack, engine):
    stack.start_worker()
    share_pack_id = stack.upload(pack())
    assert stack.wait_final(share_pack_id)["Status"] == "COMPLETED"
    with sessionmaker(engine)() as session:
        bodies = session.scalars(
            select(Notification.body).where(Notification.notification_type == "RECIPIENT_ACTIVATION")
        ).all()
        audit = " ".join(str(a.new_values) + str(a.old_values) for a in session.scalars(select(AuditEntry)))
        versions = " ".join(str(v) for v in stack.history(share_pack_id))
    assert len(bodies) == 1 and "retrieve_config" not in bodies[0]  # the one D2O recipient; link kept encrypted
    for written in (audit, versions, stack.worker_logs()):
        assert "retrieve_config" not in written


def test_a_workspace_without_credentials_fails_the_pack_with_the_reason(stack):
    stack.start_worker(
        DATABRICKS_TOKEN="",
        WORKSPACE_CREDENTIALS='{"https://adb-1234567890123456.7.azuredatabricks.net": {"token": "other"}}',
    )
    final = stack.wait_final(stack.upload(pack()))
    assert final["Status"] == "FAILED"
    assert final["ErrorMessage"] == (
        f"Step 3/8: Provisioning recipients failed: No Databricks credentials configured for {stack.emulator.url}."
    )
