"""Engines, sessions and the schema check. One engine per process, one session per unit of work."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, TextClause, create_engine, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.models import DOMAIN_SCHEMA, DOMAIN_TABLES
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.platform.settings import Settings

EXPECTED_TABLE_COUNT = len(DOMAIN_TABLES)


def sqlalchemy_url(connection_string: str) -> str:
    """Return the URL with the psycopg 3 driver, whatever scheme the user wrote."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if connection_string.startswith(prefix):
            return "postgresql+psycopg://" + connection_string[len(prefix) :]
    return connection_string


def database_url(settings: Settings) -> str:
    """The configured database, or the embedded one when none is configured."""
    if settings.domain_db_connection_string:
        return sqlalchemy_url(settings.domain_db_connection_string)
    return start_embedded_postgres(settings.embedded_data_dir)


#: A pooled connection idle at least this long is pinged before it is handed out (see `make_engine`).
PING_AFTER_IDLE_SECONDS = 1.0
#: Connections older than this are replaced, so none outlives a server's or a proxy's idle timeout unnoticed.
POOL_RECYCLE_SECONDS = 300


def make_engine(url: str, *, pool_size: int = 5, application_name: str | None = None) -> Engine:
    """An engine whose pool pings a connection only when it has been idle (see `ping_idle_connections`).

    ``application_name``: what the server shows for its connections (`pg_stat_activity`, the server's log
    lines), so an operator can tell which deployable holds a connection or a lock
    (https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-APPLICATION-NAME).
    """
    # hide_parameters: a statement's values (a pack's config, an activation link) stay out of error messages,
    # which end up in logs.
    connect_args = {"application_name": application_name} if application_name else {}
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, hide_parameters=True,
                           pool_recycle=POOL_RECYCLE_SECONDS, connect_args=connect_args)
    ping_idle_connections(engine)
    return engine


def ping_idle_connections(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection at checkout only if it sat idle for ``idle_seconds``.

    `pool_pre_ping` pings on every checkout: a round trip per unit of work, 15% of an upload's time under
    load. A connection checked in a moment ago was working a moment ago; one that waited (through a quiet
    spell, or a database restart) is checked first, so a restarted database still costs one failed ping,
    not a failed request. A connection that breaks between two busy checkouts fails its statement, and
    SQLAlchemy then invalidates the whole pool (every older connection is replaced at its next checkout),
    as it does with pre-ping. This is SQLAlchemy's "pessimistic" disconnect handling done in the checkout
    event (https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic).
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError() from exc  # the pool replaces it and checks out again
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so services can return what they stored."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def read_only_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only, whose transaction is READ ONLY and ends with COMMIT (ROLLBACK on an error).

    Why not the usual end, a session closed without a commit (the pool then rolls the transaction back):
    psycopg forgets every statement it prepared on a connection when a ROLLBACK runs there
    (`psycopg/_preparing.py`, `_should_discard`), and prepares a statement only from its fifth run on that
    connection (https://www.psycopg.org/psycopg3/docs/advanced/prepare.html). A request that reads in one
    session and then writes in another, on the same pooled connection, would have PostgreSQL parse and plan
    all its statements every time: on the upload path that was half the server's CPU. READ ONLY
    (SQLAlchemy's `postgresql_readonly`, sent in the BEGIN) makes that commit provably empty: a write there
    fails (SQLSTATE 25006) instead of being committed. A factory bound to a connection (the tests' savepoint
    fixture) has its transaction open already; its session gets the commit, which releases a savepoint.
    """
    bind = session_factory.kw.get("bind")
    with session_factory(bind=_read_only(bind) if isinstance(bind, Engine) else bind) as session:
        yield session
        session.commit()


@functools.lru_cache(maxsize=4)
def _read_only(engine: Engine) -> Engine:
    """``engine``'s pool, with each connection READ ONLY while it is lent (and reset when it is returned).

    Built once per engine (each build registers a connect event); bounded, since a process has one engine
    but a test run makes many, and an unbounded cache would keep every one of them alive."""
    return engine.execution_options(postgresql_readonly=True)


# SQLSTATE classes meaning "the server is not there right now": 08 connection exception, 57P01-57P05
# admin/crash shutdown and "cannot connect now" (https://www.postgresql.org/docs/current/errcodes-appendix.html).
# Other OperationalErrors (54 program limit exceeded, 53 insufficient resources) are not outages: retrying
# the same work fails the same way.
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached (down, restarting, connection lost), not a bug."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)  # None: the connection failed before any server answer
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows with one statement and one parameter: a JSON array unpacked by `jsonb_to_recordset`.

    Every row must carry the same columns (JSON-able values; jsonb columns take nested data). The statement
    has the same size for ten rows or twenty thousand, and the server parses one document instead of a
    bind parameter per value, which makes it several times faster than a multi-row VALUES list.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    session.execute(_insert_rows_statement(table, columns), {"rows": json.dumps([dict(row) for row in rows])})


@functools.cache
def _insert_rows_statement(table: Table, columns: tuple[str, ...]) -> TextClause:
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    record = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    return text(
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) "
        f"SELECT {names} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record})"
    )


def lock_key(business_id: uuid.UUID) -> int:
    """The 64-bit advisory lock key of an entity (its first 8 bytes; collisions only cost a wait)."""
    return int.from_bytes(business_id.bytes[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    """Try to take the session-level advisory lock `key`; yield whether we hold it.

    The lock lives on a connection of its own, held for the whole block and outside any transaction of
    the work it guards, so that work can commit as often as it likes. If the process dies, PostgreSQL
    drops the connection and the lock with it (https://www.postgresql.org/docs/current/explicit-locking.html
    #ADVISORY-LOCKS).
    """
    with engine.connect() as conn:
        acquired = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@dataclass(frozen=True)
class SchemaReport:
    """What `verify_schema` found in schema `deltashare`."""

    table_count: int
    missing_tables: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing_tables

    @property
    def message(self) -> str:
        if self.ok:
            return f"All {EXPECTED_TABLE_COUNT} tables present"
        return f"Expected {EXPECTED_TABLE_COUNT} tables but found {self.table_count}"


def verify_schema(engine: Engine) -> SchemaReport:
    """Count the domain tables that exist and name the missing ones (the health check uses it)."""
    with engine.connect() as conn:
        present = set(
            conn.scalars(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema"),
                {"schema": DOMAIN_SCHEMA},
            )
        )
    found = present & DOMAIN_TABLES
    return SchemaReport(table_count=len(found), missing_tables=tuple(sorted(DOMAIN_TABLES - present)))
