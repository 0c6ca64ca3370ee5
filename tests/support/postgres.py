"""A real PostgreSQL server for the suite: started once per test session, migrated with Alembic.

The server is the same embedded PostgreSQL that `make run` uses (real binaries, Unix socket only),
started in a temporary directory, so the suite needs nothing installed beyond the dev extra.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from dev.devstack.lifeline import stop_postgres
from shared.platform.db import make_engine
from shared.platform.embedded_postgres import start_embedded_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    """An Alembic config for `url` that leaves the test run's logging alone."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of the `postgres` database on a server that lives for the whole session."""
    # Unix socket paths are limited to ~100 bytes: keep the directory short.
    with tempfile.TemporaryDirectory(prefix="sp-pg-", dir="/tmp") as data_dir:
        url = start_embedded_postgres(data_dir)
        without_durability(url)
        yield url
        # Stopped here, before its directory goes: pgserver's own stop at exit needs that directory, and
        # without it the server outlived the session (with its data directory deleted). Nothing in it is kept,
        # so without the shutdown checkpoint.
        stop_postgres(Path(data_dir), owner=os.getpid(), immediate=True)


def without_durability(server_url: str) -> None:
    """Turn off what makes commits survive a crash of the machine, which a server deleted after the session
    never needs (https://www.postgresql.org/docs/current/non-durability.html). Every commit and every copy of
    a database otherwise waits for the disk to flush: on this VM's shared disk, 20 copies of the migrated
    database took from 1.2 s to 7.6 s with it on, 1.0-1.2 s with it off."""
    as_admin(server_url, "ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
             "ALTER SYSTEM SET full_page_writes = off", "SELECT pg_reload_conf()")


def as_admin(server_url: str, *statements: str) -> None:
    """Run `statements` on the server one by one, outside a transaction (as CREATE DATABASE must be)."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` on the server, empty or as a copy of `template`, and return its URL."""
    as_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
             f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return server_url.replace("/postgres?", f"/{name}?", 1)


def fresh_database_url(server_url: str, prefix: str = "t") -> str:
    """A new, empty database with a unique name."""
    return create_database(server_url, f"{prefix}_{uuid.uuid4().hex[:10]}")


#: Per server, a database migrated to head that nobody connects to: new migrated databases are copied from it
#: (https://www.postgresql.org/docs/current/manage-ag-templatedbs.html) in a tenth of a second instead of
#: running every migration again (about a second each). tests/integration/platform/test_migrations.py and
#: tests/integration/monitoring/test_version_table.py still run the migrations themselves.
_HEAD_TEMPLATES: dict[str, str] = {}


def copy_of_head(server_url: str, name: str) -> str:
    """Create database `name` as a copy of the schema at head (the same tables, rows and alembic version)."""
    template = _HEAD_TEMPLATES.get(server_url)
    if template is None:
        template = f"head_{uuid.uuid4().hex[:10]}"
        command.upgrade(alembic_config(create_database(server_url, template)), "head")
        _HEAD_TEMPLATES[server_url] = template
    return create_database(server_url, name, template)


def migrated_database_url(server_url: str, prefix: str = "t") -> str:
    """A new database with a unique name, migrated to head: for tests that must not share records."""
    return copy_of_head(server_url, f"{prefix}_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> str:
    """A database migrated to head once per session (per xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return copy_of_head(postgres_server_url, f"suite_{worker}")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to one outer transaction that is rolled back after the test.

    Code under test that "commits" only releases a savepoint, so each test starts from the migrated,
    empty schema without paying for a new database.
    """
    conn = engine.connect()
    outer = conn.begin()
    yield sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    outer.rollback()
    conn.close()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session
