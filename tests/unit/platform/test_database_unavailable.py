"""Which database errors are outages (waited out) and which are bugs (counted as crashes)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from shared.platform.db import is_database_unavailable


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (OperationalError("connect", {}, psycopg.OperationalError("connection refused")), True),
        (OperationalError("select", {}, pg_errors.AdminShutdown("terminating connection")), True),
        (OperationalError("select", {}, pg_errors.CannotConnectNow("the database system is starting up")), True),
        (InterfaceError("select", {}, psycopg.InterfaceError("the connection is closed")), True),
        (OperationalError("insert", {}, pg_errors.StatementTooComplex("stack depth limit exceeded")), False),
        (ProgrammingError("select", {}, pg_errors.UndefinedTable("no such table")), False),
        (IntegrityError("insert", {}, pg_errors.UniqueViolation("duplicate key")), False),
        (RuntimeError("bug"), False),
    ],
)
def test_only_an_unreachable_server_is_an_outage(exc: BaseException, outage: bool) -> None:
    assert is_database_unavailable(exc) is outage
