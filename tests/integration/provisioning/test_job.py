"""The provisioning job directly: orchestration, recording and resolution on the real PostgreSQL (one
rolled-back transaction per test) with the in-memory workspace (`tests.support.fakes`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import structlog
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from shared.models import (
    AuditEntry,
    DatabricksObject,
    Notification,
    Project,
    Recipient,
    Request,
    Share,
    SharePack,
    Tenant,
)
from shared.models.history import History
from shared.platform.db import advisory_lock, lock_key
from shared.platform.status import NotificationType, RequestStatus, SharePackStatus
from shared.provisioning.errors import TransientProvisioningError
from shared.provisioning.plan import Section
from shared.provisioning.steps import plan_steps
from shared.queue.messages import ProvisionSharePack
from shared.share_pack_file.model import SharePackSpec, Strategy
from shared.share_pack_file.write import to_yaml
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.submit import UploadRules
from shared.use_cases.transitions import Asker, Workflow
from tests.support.builders import d2d, d2o, pack, share
from tests.support.fakes import FakeWorkspaceGateway
from worker.jobs.provision import ProvisioningInterrupted, ProvisioningJob, RetryLater, SharePackBusy
from worker.jobs.provision_recording import Recorder

WORKSPACE = "https://adb-1.azuredatabricks.net"
TABLES = [f"sales.reporting.t{i:03}" for i in range(150)]


class Never:
    def should_stop(self) -> bool:
        return False


class StopAfter:
    """Asks to stop at the n-th check (the job checks before every step)."""

    def __init__(self, checks: int) -> None:
        self.left = checks

    def should_stop(self) -> bool:
        self.left -= 1
        return self.left < 0


class FailsAt(StopAfter):
    """A stop signal with a bug: it raises at the n-th check instead of answering."""

    def should_stop(self) -> bool:
        if super().should_stop():
            raise Crash("the stop check failed")
        return False


class Crash(Exception):
    """Stands for the process dying: nothing after it runs."""


def new_pack() -> SharePackSpec:
    return pack(
        Strategy.NEW,
        recipients=[d2o("acme", ips=["203.0.113.0/24"]), d2d("partner")],
        shares=[share("sales", TABLES, recipients=["acme", "partner"], comment="Sales")],
    )


def delete_pack() -> SharePackSpec:
    return pack(Strategy.DELETE, recipients=[d2o("acme"), d2d("partner")], shares=[share("sales")])


def submit(
    session_factory: sessionmaker[Session], spec: SharePackSpec, *, registered_by: ProvisioningJob | None = None
) -> ProvisionSharePack:
    """Store ``spec`` as a queued pack; with its tenant and project registered first (as an upload does) when
    ``registered_by`` is given, else without (as packs stored before tenants were registered)."""
    registered = {}
    if registered_by is not None:
        tenant_id = registered_by.resolver.tenant(spec)
        registered = {"tenant_id": tenant_id, "project_id": registered_by.resolver.project(spec, tenant_id)}
    with session_factory.begin() as session:
        row = History(session, SharePack).create(
            created_by="test",
            share_pack_name=f"pack-{uuid.uuid4().hex[:6]}",
            share_pack_status=SharePackStatus.IN_PROGRESS,
            provisioning_status="Queued for provisioning",
            requested_by=spec.metadata.requestor,
            strategy=spec.metadata.strategy.value,
            config=spec.to_dict(),
            file_format="yaml",
            workspace_url=WORKSPACE,
            created_at=datetime.now(UTC),
            **registered,
        )
        return ProvisionSharePack(share_pack_id=row.share_pack_id, request_id="req-1")


@pytest.fixture
def gateway() -> FakeWorkspaceGateway:
    return FakeWorkspaceGateway()


@pytest.fixture
def job(session_factory: sessionmaker[Session], engine: Engine, gateway: FakeWorkspaceGateway) -> ProvisioningJob:
    return ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)


def current(session: Session, command: ProvisionSharePack) -> SharePack:
    return History(session, SharePack).get_current(command.share_pack_id)


def audit_counts(session: Session, entity_type: str) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(AuditEntry.entity_id, AuditEntry.action, func.count())
        .where(AuditEntry.entity_type == entity_type)
        .group_by(AuditEntry.entity_id, AuditEntry.action)
    )
    return {(entity_id, action): count for entity_id, action, count in rows}


def test_a_new_pack_is_provisioned_audited_and_recorded(
    job: ProvisioningJob, gateway: FakeWorkspaceGateway, session: Session, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    job.run(command, Never())

    pack_row = current(session, command)
    assert pack_row.share_pack_status == SharePackStatus.COMPLETED
    assert pack_row.provisioning_status.startswith("Step 8/8: Completed (")
    assert set(gateway.recipients) == {"acme", "partner"}
    assert len(gateway.shares["sales"].objects) == len(TABLES)
    assert gateway.shares["sales"].grantees == {"acme", "partner"}
    objects = audit_counts(session, "data_object")
    assert objects == {(f"{WORKSPACE}/sales/{t}", "CREATED"): 1 for t in TABLES}
    assert len(audit_counts(session, "grant")) == 2
    assert {r.recipient_name: r.recipient_databricks_id
            for r in History(session, Recipient).find_current(workspace_url=WORKSPACE)} == {
        "acme": "id-acme",
        "partner": "id-partner",
    }
    assert [s.share_name for s in History(session, Share).find_current(workspace_url=WORKSPACE)] == ["sales"]
    assert len(History(session, DatabricksObject).find_current(workspace_url=WORKSPACE)) == len(TABLES)
    tenant = History(session, Tenant).find_current(business_line_name="sales")
    assert pack_row.tenant_id == tenant[0].tenant_id
    assert pack_row.project_id == History(session, Project).find_current(tenant_id=tenant[0].tenant_id)[0].project_id
    kinds = session.scalars(select(Notification.notification_type)).all()
    assert sorted(kinds) == [NotificationType.PROVISION_SUCCESS, NotificationType.RECIPIENT_ACTIVATION]


def test_the_log_says_what_operators_grep_for(
    job: ProvisioningJob, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        job.run(command, Never())

    events = [entry["event"] for entry in logs]
    for line in ("Step 1/8: Resolving tenant 'sales'", "Step 2/8: Resolving project 'reporting'",
                 "Creating D2O recipient: acme", "Creating D2D recipient: partner", "Creating share: sales",
                 "Step 4/8: Creating shares"):
        assert line in events, line
    creating = next(entry for entry in logs if entry["event"] == "Creating share: sales")
    assert (creating["share"], creating["tenant"], creating["project"]) == ("sales", "sales", "reporting")
    # Recipients are created in a thread pool: its lines carry the pack's ids all the same.
    threaded = next(entry for entry in logs if entry["event"] == "Creating D2D recipient: partner")
    assert (threaded["recipient"], threaded["project"]) == ("partner", "reporting")


def test_the_status_walks_through_the_numbered_steps(
    job: ProvisioningJob, session: Session, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    job.run(command, Never())

    lines = [v.provisioning_status for v in History(session, SharePack).history(command.share_pack_id)]
    assert lines[1:] == [
        "Step 1/8: Resolving tenant",
        "Step 2/8: Resolving project",
        "Step 3/8: Provisioning recipients (plan ready)",
        "Step 3/8: Provisioning recipients",
        "Step 4/8: Creating shares",
        "Step 5/8: Adding data objects",
        "Step 6/8: Granting recipients access",
        "Step 7/8: Creating pipelines",
        "Step 8/8: Scheduling pipelines",
        lines[-1],
    ]


def test_a_transient_failure_asks_for_a_retry_which_resumes_without_duplicates(
    job: ProvisioningJob, gateway: FakeWorkspaceGateway, session: Session, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())
    gateway.fail_next[("create_share", "sales")] = TransientProvisioningError(
        "share 'sales': Too many requests", error_code="REQUEST_LIMIT_EXCEEDED"
    )

    with pytest.raises(RetryLater) as raised:
        job.run(command, Never())

    pack_row = current(session, command)
    assert pack_row.share_pack_status == SharePackStatus.IN_PROGRESS
    assert raised.value.message == pack_row.provisioning_status
    assert pack_row.provisioning_status.startswith("Step 4/8: Creating shares will be retried: share 'sales'")
    assert set(gateway.recipients) == {"acme", "partner"}

    job.run(command, Never())

    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    assert gateway.calls_to("create_recipient") == ["acme", "partner"]  # adopted the second time
    recipients = audit_counts(session, "recipient")
    assert recipients == {(f"{WORKSPACE}/acme", "CREATED"): 1, (f"{WORKSPACE}/partner", "CREATED"): 1}


def transactions_of(session_factory: sessionmaker[Session], run: Callable[[], object]) -> int:
    """How many database transactions ``run`` opens through ``session_factory``."""
    begins: list[object] = []

    def count(*_args: object) -> None:
        begins.append(None)

    event.listen(session_factory, "after_begin", count)
    try:
        run()
    finally:
        event.remove(session_factory, "after_begin", count)
    return len(begins)


def test_a_pack_is_recorded_in_one_transaction_per_step(
    job: ProvisioningJob, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """One transaction reads the pack; steps 1 and 2 write theirs together; the plan goes with the first
    applied step's progress, what each step did with the next one's, and the last one's with the outcome."""
    command = submit(session_factory, new_pack(), registered_by=job)

    opened = transactions_of(session_factory, lambda: job.run(command, Never()))

    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    assert opened == 3 + len(plan_steps(Strategy.NEW))  # 9; a transaction per record took 17


def test_a_permanent_failure_fails_the_pack_with_the_step_and_databricks_code(
    session_factory: sessionmaker[Session], engine: Engine, session: Session
) -> None:
    gateway = FakeWorkspaceGateway(tables=TABLES[:-1])
    job = ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)
    command = submit(session_factory, new_pack())

    job.run(command, Never())

    pack_row = current(session, command)
    assert pack_row.share_pack_status == SharePackStatus.FAILED
    assert pack_row.error_message.startswith("Step 5/8: Adding data objects failed: Table ")
    assert pack_row.error_message.endswith("[TABLE_DOES_NOT_EXIST]")
    kinds = session.scalars(select(Notification.notification_type)).all()
    assert NotificationType.PROVISION_FAILURE in kinds
    assert History(session, DatabricksObject).find_current(workspace_url=WORKSPACE) == []
    # What the failed pack did create is recorded as it happened, with the ids Databricks gave it.
    recipients = {r.recipient_name: r for r in History(session, Recipient).find_current(workspace_url=WORKSPACE)}
    assert {name: r.recipient_databricks_id for name, r in recipients.items()} == {
        "acme": "id-acme", "partner": "id-partner"}
    assert all(r.project_id == pack_row.project_id and r.share_pack_id == pack_row.share_pack_id
               for r in recipients.values())
    [sales] = History(session, Share).find_current(workspace_url=WORKSPACE)
    assert (sales.share_name, sales.databricks_share_id, sales.project_id) == ("sales", "sales", pack_row.project_id)


def test_an_interrupted_job_says_where_and_the_next_attempt_completes(
    job: ProvisioningJob, gateway: FakeWorkspaceGateway, session: Session, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    with pytest.raises(ProvisioningInterrupted):
        job.run(command, StopAfter(checks=3))  # before 2, before 3, before 4: stop

    assert current(session, command).provisioning_status == "Interrupted before step 4/8; will resume"
    assert gateway.shares == {}
    # What step 3 did is written with the interruption: audited and in the tables, with the ids Databricks gave.
    assert audit_counts(session, "recipient") == {(f"{WORKSPACE}/acme", "CREATED"): 1,
                                                  (f"{WORKSPACE}/partner", "CREATED"): 1}
    assert {r.recipient_name: r.recipient_databricks_id
            for r in History(session, Recipient).find_current(workspace_url=WORKSPACE)} == {
        "acme": "id-acme", "partner": "id-partner"}

    job.run(command, Never())

    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    assert len(gateway.shares["sales"].objects) == len(TABLES)
    assert all(count == 1 for count in audit_counts(session, "recipient").values())


def test_an_unexpected_error_between_steps_keeps_what_the_last_step_did(
    job: ProvisioningJob, gateway: FakeWorkspaceGateway, session: Session, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    with pytest.raises(Crash):
        job.run(command, FailsAt(checks=3))  # before 2, before 3, before 3 again, before 4: the bug

    assert set(gateway.recipients) == {"acme", "partner"} and gateway.shares == {}
    assert current(session, command).provisioning_status == "Step 3/8: Provisioning recipients"
    # The activation link exists only in what step 3 returned: it is kept, not left to a reconcile.
    kinds = session.scalars(select(Notification.notification_type)).all()
    assert kinds == [NotificationType.RECIPIENT_ACTIVATION]
    assert len(audit_counts(session, "recipient")) == 2


def test_a_delete_pack_removes_in_reverse_and_records_the_deletions(
    job: ProvisioningJob, gateway: FakeWorkspaceGateway, session: Session, session_factory: sessionmaker[Session]
) -> None:
    job.run(submit(session_factory, new_pack()), Never())
    command = submit(session_factory, delete_pack())

    job.run(command, Never())

    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    assert gateway.recipients == {} and gateway.shares == {}
    assert History(session, Recipient).find_current(workspace_url=WORKSPACE) == []
    assert History(session, Share).find_current(workspace_url=WORKSPACE) == []
    lines = [v.provisioning_status for v in History(session, SharePack).history(command.share_pack_id)]
    assert "Step 8/8: Removing schedules (plan ready)" in lines  # a DELETE unschedules before anything else
    assert lines.index("Step 7/8: Removing pipelines") < lines.index("Step 6/8: Revoking grants")
    assert lines.index("Step 6/8: Revoking grants") < lines.index("Step 4/8: Removing shares")
    assert lines.index("Step 4/8: Removing shares") < lines.index("Step 3/8: Removing recipients")
    assert audit_counts(session, "share") == {
        (f"{WORKSPACE}/sales", "CREATED"): 1,
        (f"{WORKSPACE}/sales", "DELETED"): 1,
    }


def test_a_pack_another_worker_holds_is_left_for_later(
    job: ProvisioningJob, engine: Engine, gateway: FakeWorkspaceGateway, session_factory: sessionmaker[Session]
) -> None:
    command = submit(session_factory, new_pack())

    with advisory_lock(engine, lock_key(command.share_pack_id)) as held, pytest.raises(SharePackBusy) as raised:
        assert held
        job.run(command, Never())

    assert isinstance(raised.value, RetryLater)  # the consumer hides the message instead of deleting it
    assert gateway.calls == []


def test_a_crash_between_applying_and_recording_is_audited_on_resume(
    job: ProvisioningJob,
    gateway: FakeWorkspaceGateway,
    session: Session,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command = submit(session_factory, new_pack())
    record_step = Recorder.step

    def die_after_objects(self: Recorder, session, attempt, result, *args) -> None:  # type: ignore[no-untyped-def]
        if result.step is Section.DATA_OBJECTS:
            raise Crash("the worker died after adding the objects, before recording them")
        record_step(self, session, attempt, result, *args)

    monkeypatch.setattr(Recorder, "step", die_after_objects)
    with pytest.raises(Crash):
        job.run(command, Never())
    assert len(gateway.shares["sales"].objects) == len(TABLES)
    assert audit_counts(session, "data_object") == {}
    monkeypatch.setattr(Recorder, "step", record_step)

    job.run(command, Never())

    assert current(session, command).share_pack_status == SharePackStatus.COMPLETED
    assert audit_counts(session, "data_object") == {(f"{WORKSPACE}/sales/{t}", "CREATED"): 1 for t in TABLES}
    assert len(audit_counts(session, "recipient")) == 2  # audited the first time, not again
    assert all(count == 1 for count in audit_counts(session, "recipient").values())


def test_the_advisory_lock_is_exclusive_and_released(engine: Engine) -> None:
    key = lock_key(uuid.uuid4())
    with advisory_lock(engine, key) as first, advisory_lock(engine, key) as second:
        assert (first, second) == (True, False)
    with advisory_lock(engine, key) as again:
        assert again


def add_request(session_factory: sessionmaker[Session], command: ProvisionSharePack) -> uuid.UUID:
    with session_factory.begin() as session:
        return History(session, Request).create(
            created_by="test", share_pack_id=command.share_pack_id, requested_by="alice@example.com",
            status=RequestStatus.SUBMITTED, request_type="NEW",
        ).request_id


@pytest.mark.parametrize(("tables", "final"), [(TABLES, RequestStatus.COMPLETED), (TABLES[:-1], RequestStatus.FAILED)])
def test_the_request_moves_with_its_pack(
    session_factory: sessionmaker[Session], engine: Engine, session: Session, tables: list[str], final: str
) -> None:
    gateway = FakeWorkspaceGateway(tables=tables)
    job = ProvisioningJob(session_factory=session_factory, engine=engine, gateway_for=lambda url: gateway)
    command = submit(session_factory, new_pack())
    request_id = add_request(session_factory, command)

    job.run(command, Never())

    statuses = [r.status for r in History(session, Request).history(request_id)]
    assert statuses == [RequestStatus.SUBMITTED, RequestStatus.IN_PROGRESS, final]

def test_the_outcome_is_audited_with_the_request_that_asked_for_it(
    job: ProvisioningJob, session: Session, session_factory: sessionmaker[Session]
) -> None:
    queued: list[int] = []
    workflow = Workflow(session_factory, ViaOutbox("job-tests", queued.append),
                        rules=UploadRules(max_bytes=1_000_000))
    submitted = workflow.submit(Asker(WORKSPACE, request_id="req-42", tool="tests"), to_yaml(new_pack()).encode(),
                                "pack.yaml")
    assert len(queued) == 1

    job.run(ProvisionSharePack(submitted.share_pack_id, request_id="req-42"), Never())

    audits = session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "share_pack",
                                 AuditEntry.entity_id == str(submitted.share_pack_id))
        .order_by(AuditEntry.timestamp)
    ).all()
    assert [(a.action, a.request_id) for a in audits] == [("CREATED", "req-42"), ("STATUS_CHANGED", "req-42")]
