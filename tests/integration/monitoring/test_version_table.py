"""The seed's troubleshooting case: "Expected 16 tables but found N" -> drop the schema, migrate again.

Alembic's version table lives in `deltashare`, so dropping the schema drops the record that the database is
current, and `alembic upgrade head` rebuilds everything. Databases migrated by earlier releases kept the
table in `public`; the next upgrade moves it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from alembic import command
from shared.platform.db import verify_schema
from tests.support.postgres import alembic_config, fresh_database_url, migrated_database_url


@pytest.fixture
def migrated(postgres_server_url: str) -> Iterator[tuple[str, Engine]]:
    url = migrated_database_url(postgres_server_url, prefix="vt")
    engine = create_engine(url)
    yield url, engine
    engine.dispose()


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused")).get_current_head() or ""


def recorded(engine: Engine, schema: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT version_num FROM {schema}.alembic_version")))


def test_drop_the_schema_then_upgrade_head_rebuilds_it(migrated):
    url, engine = migrated
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE deltashare.pipelines"))
    assert verify_schema(engine).message == "Expected 16 tables but found 15"

    with engine.begin() as conn:  # the seed's fix
        conn.execute(text("DROP SCHEMA deltashare CASCADE"))
    command.upgrade(alembic_config(url), "head")

    report = verify_schema(engine)
    assert report.ok and report.table_count == 16
    assert recorded(engine, "deltashare") == [head()]
    with engine.connect() as conn:  # the monitoring views, dropped with the tables they read, are back
        assert conn.scalar(text("SELECT count(*) FROM monitoring.pack_runs")) == 0


def test_a_version_table_in_public_moves_into_deltashare(postgres_server_url):
    url = fresh_database_url(postgres_server_url, prefix="vt")
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:  # what the first release left behind: its version table in public
        conn.execute(text("ALTER TABLE deltashare.alembic_version SET SCHEMA public"))

    command.upgrade(alembic_config(url), "head")

    assert recorded(engine, "deltashare") == [head()]
    with engine.connect() as conn:
        assert not conn.scalar(text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
        assert conn.scalar(text("SELECT count(*) FROM monitoring.recent_failures")) == 0
    engine.dispose()


def test_a_stale_public_record_after_the_schema_was_dropped_does_not_fool_upgrade(migrated):
    url, engine = migrated
    with engine.begin() as conn:  # an earlier release, then the seed's "drop the schema"
        conn.execute(text("ALTER TABLE deltashare.alembic_version SET SCHEMA public"))
        conn.execute(text("DROP SCHEMA deltashare CASCADE"))

    command.upgrade(alembic_config(url), "head")

    assert verify_schema(engine).ok
    assert recorded(engine, "deltashare") == [head()]


def test_another_applications_version_table_in_public_is_left_alone(migrated):
    url, engine = migrated
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO public.alembic_version VALUES ('abc123def456')"))

    command.upgrade(alembic_config(url), "head")

    assert recorded(engine, "public") == ["abc123def456"]
    assert recorded(engine, "deltashare") == [head()]
