"""SCD Type 2 history: the API's behaviour and the invariants the database enforces on its own."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from shared.models import Recipient, Share, Tenant
from shared.models.history import History
from shared.platform.db import make_engine
from shared.platform.errors import Conflict, NotFound
from tests.support.postgres import migrated_database_url


def _tenant(history: History[Tenant], name: str = "Finance") -> Tenant:
    return history.create(created_by="alice", business_line_name=name, owner="o@example.com")


def test_create_writes_version_one(session):
    tenant = _tenant(History(session, Tenant))
    assert (tenant.version, tenant.is_current, tenant.effective_to) == (1, True, None)
    assert tenant.created_by == "alice"


def test_change_closes_current_and_inserts_next(session):
    history = History(session, Tenant)
    first = _tenant(history)
    second = history.change(first.tenant_id, changed_by="bob", change_reason="new owner", owner="new@example.com")

    assert second.version == 2 and second.is_current and second.owner == "new@example.com"
    assert second.business_line_name == "Finance"  # unchanged columns are carried over
    assert not first.is_current and first.effective_to == second.effective_from
    assert [v.version for v in history.history(first.tenant_id)] == [1, 2]
    assert history.current(first.tenant_id).record_id == second.record_id


def test_as_of_returns_the_version_current_at_that_moment(session):
    history = History(session, Tenant)
    first = _tenant(history)
    second = history.change(first.tenant_id, changed_by="bob", change_reason="r", owner="x@example.com")

    assert history.as_of(first.tenant_id, first.effective_from).version == 1
    assert history.as_of(first.tenant_id, second.effective_from).version == 2
    assert history.as_of(first.tenant_id, datetime(2000, 1, 1).astimezone()) is None


def test_change_with_stale_expected_version_is_a_conflict(session):
    history = History(session, Tenant)
    tenant = _tenant(history)
    history.change(tenant.tenant_id, changed_by="bob", change_reason="r", owner="a@example.com")
    with pytest.raises(Conflict, match="version 2, not 1"):
        history.change(tenant.tenant_id, changed_by="eve", change_reason="r", expected_version=1, owner="b")


def test_change_of_unknown_entity_is_not_found(session):
    with pytest.raises(NotFound):
        History(session, Tenant).change(uuid.uuid4(), changed_by="x", change_reason="r", owner="y")


def test_delete_is_a_last_version_and_frees_the_natural_key(session):
    history = History(session, Share)
    share = history.create(created_by="a", workspace_url="https://w", share_name="sales")
    deleted = history.delete(share.share_id, changed_by="a", change_reason="removed")
    assert deleted.is_deleted and deleted.version == 2
    again = history.create(created_by="a", workspace_url="https://w", share_name="sales")
    assert again.share_id != share.share_id
    assert history.find_current(share_name="sales")[0].share_id == again.share_id


def test_database_refuses_two_current_rows(session):
    tenant = _tenant(History(session, Tenant))
    with pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO deltashare.tenants (tenant_id, business_line_name, version, created_by) "
                "VALUES (:id, 'Other', 2, 'x')"
            ),
            {"id": tenant.tenant_id},
        )


def test_database_refuses_a_duplicate_version(session):
    tenant = _tenant(History(session, Tenant))
    with pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO deltashare.tenants (tenant_id, business_line_name, version, is_current, "
                "effective_to, created_by) VALUES (:id, 'Other', 1, false, now() + interval '1 day', 'x')"
            ),
            {"id": tenant.tenant_id},
        )


def test_database_refuses_an_interval_that_ends_before_it_starts(session):
    with pytest.raises(IntegrityError, match="effective_interval_ordered"):
        session.execute(
            text(
                "INSERT INTO deltashare.tenants (tenant_id, business_line_name, version, is_current, "
                "effective_from, effective_to, created_by) "
                "VALUES (gen_random_uuid(), 'T', 1, false, now(), now() - interval '1 second', 'x')"
            )
        )


def test_names_are_unique_per_workspace_and_stored_lowercase(session):
    history = History(session, Recipient)
    common = {"created_by": "a", "recipient_type": "D2O"}
    history.create(workspace_url="https://one", recipient_name="acme", **common)
    history.create(workspace_url="https://two", recipient_name="acme", **common)  # other workspace: fine
    with pytest.raises(Conflict):
        history.create(workspace_url="https://one", recipient_name="acme", **common)


def test_uppercase_names_are_refused_by_the_database(session):
    with pytest.raises(Conflict, match="recipient_name_lowercase"):
        History(session, Recipient).create(
            created_by="a", workspace_url="https://one", recipient_name="ACME", recipient_type="D2O"
        )


@pytest.fixture
def own_engine(postgres_server_url: str) -> Iterator[Engine]:
    """A database of the test's own: it commits from several connections, and what it commits stays there
    (the suite's shared database would show its tenants to other tests' listings)."""
    engine = make_engine(migrated_database_url(postgres_server_url, "race"))
    yield engine
    engine.dispose()


def test_concurrent_changes_never_lose_a_version(own_engine: Engine):
    """Eight real connections change one entity at once: every change lands as its own version."""
    factory = sessionmaker(own_engine, expire_on_commit=False)
    name = f"race-{uuid.uuid4().hex[:8]}"
    with factory.begin() as session:
        tenant_id = History(session, Tenant).create(created_by="setup", business_line_name=name).tenant_id

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def change(i: int) -> None:
        try:
            with factory.begin() as session:
                history = History(session, Tenant)
                barrier.wait()
                history.change(tenant_id, changed_by=f"writer-{i}", change_reason="race", owner=f"o{i}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=change, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with factory() as session:
        versions = History(session, Tenant).history(tenant_id)
    assert [v.version for v in versions] == list(range(1, 10))
    assert sum(v.is_current for v in versions) == 1
    assert {v.created_by for v in versions[1:]} == {f"writer-{i}" for i in range(8)}
    for older, newer in itertools.pairwise(versions):
        assert older.effective_to == newer.effective_from


def test_concurrent_changes_with_expected_version_let_exactly_one_win(own_engine: Engine):
    factory = sessionmaker(own_engine, expire_on_commit=False)
    with factory.begin() as session:
        tenant_id = History(session, Tenant).create(
            created_by="setup", business_line_name=f"race-{uuid.uuid4().hex[:8]}"
        ).tenant_id

    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def change(i: int) -> None:
        try:
            with factory.begin() as session:
                barrier.wait()
                History(session, Tenant).change(
                    tenant_id, changed_by=f"w{i}", change_reason="race", expected_version=1, owner=f"o{i}"
                )
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=change, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
    with factory() as session:
        assert [v.version for v in History(session, Tenant).history(tenant_id)] == [1, 2]


def test_upsert_creates_then_versions_only_real_changes(session):
    history = History(session, Share)
    key = {"workspace_url": "https://w", "share_name": "sales"}
    who = {"changed_by": "worker", "change_reason": "provisioned"}
    created = history.upsert(key, {"description": "v1"}, **who)
    same = history.upsert(key, {"description": "v1"}, **who)
    changed = history.upsert(key, {"description": "v2"}, **who)
    assert created.version == 1 and same.record_id == created.record_id
    assert changed.version == 2 and changed.share_id == created.share_id
    assert history.delete_current(key, **who) == 1
    assert history.delete_current(key, **who) == 0  # already deleted: nothing more to record
    assert [v.is_deleted for v in history.history(created.share_id)] == [False, False, True]


def test_upsert_many_reads_once_and_versions_only_what_changed(session):
    history = History(session, Share)
    who = {"changed_by": "worker", "change_reason": "provisioned"}
    key = ("workspace_url", "share_name")
    rows = [{"workspace_url": "https://w", "share_name": f"s{i}", "description": "v1"} for i in range(3)]
    assert history.upsert_many(rows, key=key, **who) == 3
    assert history.upsert_many(rows, key=key, **who) == 0
    rows[1] = {**rows[1], "description": "v2"}
    rows.append({"workspace_url": "https://w", "share_name": "s3", "description": "v1"})
    assert history.upsert_many(rows, key=key, **who) == 2
    current = {row.share_name: row for row in history.find_current(workspace_url="https://w")}
    assert {name: (row.version, row.description) for name, row in current.items()} == {
        "s0": (1, "v1"), "s1": (2, "v2"), "s2": (1, "v1"), "s3": (1, "v1"),
    }
    versions = history.history(current["s1"].share_id)
    assert versions[0].effective_to == versions[1].effective_from


def test_upsert_many_holds_at_design_scale(session):
    """20,000 objects in one pack: once one `(a, b) IN (...)` list, which exceeded max_stack_depth."""
    history = History(session, Share)
    who = {"changed_by": "worker", "change_reason": "provisioned"}
    key = ("workspace_url", "share_name")
    rows = [{"workspace_url": "https://w", "share_name": f"s{i:05}", "description": "v1"} for i in range(20_000)]
    assert history.upsert_many(rows, key=key, **who) == 20_000
    assert history.upsert_many(rows, key=key, **who) == 0
    rows[19_999] = {**rows[19_999], "description": "v2"}
    assert history.upsert_many(rows, key=key, **who) == 1
    count = session.scalar(text("SELECT count(*) FROM deltashare.shares WHERE is_current AND NOT is_deleted"))
    assert count == 20_000


def test_delete_many_ends_only_what_exists(session):
    history = History(session, Share)
    who = {"changed_by": "worker", "change_reason": "DELETE share pack"}
    key = ("workspace_url", "share_name")
    history.upsert_many([{"workspace_url": "https://w", "share_name": n} for n in ("a", "b")], key=key, **who)
    doomed = [{"workspace_url": "https://w", "share_name": n} for n in ("a", "b", "never-existed")]
    assert history.delete_many(doomed, key=key, **who) == 2
    assert history.delete_many(doomed, key=key, **who) == 0
    assert history.find_current(workspace_url="https://w") == []
    assert [n.share_name for n in history.find_current(workspace_url="https://w", include_deleted=True)] == ["a", "b"]
