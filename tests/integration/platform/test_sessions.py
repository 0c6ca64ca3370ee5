"""Engines and sessions as PostgreSQL sees them: who holds a connection, what a read session may do, and
whether a hot path's statements stay prepared between the read session and the write session after it.

Each test has an engine of one pooled connection, so every session below runs on the same server session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import InternalError
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Tenant
from shared.models.history import History
from shared.platform.db import make_engine, make_session_factory, read_only_session

#: A read of the upload path's kind: the same text every time, its value a bound parameter.
A_READ = select(Tenant.tenant_id).where(Tenant.is_current, Tenant.business_line_name == "nobody")


@pytest.fixture
def one_connection(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1, application_name="sharepack-tests")
    yield engine
    engine.dispose()


@pytest.fixture
def factory(one_connection: Engine) -> sessionmaker[Session]:
    return make_session_factory(one_connection)


def prepared_reads(session: Session) -> int:
    """How many statements the server session holds prepared for `A_READ`."""
    return session.scalar(text(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%tenants.business_line_name = $1%'"
    ))


def test_the_server_shows_which_deployable_holds_a_connection(one_connection: Engine):
    with one_connection.connect() as connection:
        assert connection.scalar(text("SHOW application_name")) == "sharepack-tests"


def test_a_read_session_is_read_only_and_the_next_session_is_not(factory: sessionmaker[Session]):
    with read_only_session(factory) as session:
        assert session.scalar(text("SHOW transaction_read_only")) == "on"
    with factory.begin() as session:
        assert session.scalar(text("SHOW transaction_read_only")) == "off"


def test_a_write_in_a_read_session_is_refused_and_nothing_is_stored(factory: sessionmaker[Session]):
    name = f"read-only-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InternalError) as refused, read_only_session(factory) as session:
        History(session, Tenant).create(created_by="test", business_line_name=name)
        session.flush()
    assert refused.value.orig is not None and refused.value.orig.sqlstate == "25006"  # read_only_sql_transaction
    with factory() as session:
        assert session.scalar(select(func.count()).where(Tenant.business_line_name == name)) == 0


def test_reads_stay_prepared_across_read_sessions_but_not_across_rolled_back_ones(factory: sessionmaker[Session]):
    # psycopg prepares a statement from its fifth run on a connection and forgets them all at a ROLLBACK.
    for _ in range(6):
        with factory() as session:  # closed without a commit: the pool rolls it back
            session.execute(A_READ).all()
    with factory() as session:
        assert prepared_reads(session) == 0
    for _ in range(6):
        with read_only_session(factory) as session:
            session.execute(A_READ).all()
        with factory.begin() as session:  # the upload's storing transaction, on the same connection
            session.execute(text("SELECT 1"))
    with read_only_session(factory) as session:
        assert prepared_reads(session) == 1
