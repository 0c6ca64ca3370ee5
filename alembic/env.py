"""Alembic environment: migrations run against the service's own settings, one deploy at a time.

Alembic's own bookkeeping (`alembic_version`) lives in the domain schema `deltashare`, so a database whose
domain schema was dropped reads as empty and `alembic upgrade head` rebuilds it. Deployments migrated
before that kept the table in `public`; `adopt_legacy_version_table` moves it on the next upgrade.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig

from sqlalchemy import Connection, create_engine, pool, text

from alembic import context
from shared.models import DOMAIN_SCHEMA, RUNTIME_SCHEMA, Base
from shared.platform.db import database_url
from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings
from shared.platform.settings_contract import require_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
VERSION_TABLE = "alembic_version"
VERSION_SCHEMA = DOMAIN_SCHEMA
# Every runtime table the models declare: a runtime schema holding only these is ours to drop and rebuild.
RUNTIME_TABLES = {t.name for t in target_metadata.tables.values() if t.schema == RUNTIME_SCHEMA}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Compare only our own schemas; leave anything else in the database alone."""
    if type_ == "schema":
        return name in (DOMAIN_SCHEMA, RUNTIME_SCHEMA)
    return True


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    try:
        require_settings("migrate")
        return database_url(Settings.from_env())
    except ConfigurationError as exc:
        sys.exit(f"error: {exc}")


def _table_exists(conn: Connection, schema: str, table: str) -> bool:
    return conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f'"{schema}"."{table}"'})


def _schema_exists(conn: Connection, schema: str) -> bool:
    return bool(conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}))


def adopt_legacy_version_table(conn: Connection) -> None:
    """Move `public.alembic_version` (where earlier releases kept it) into `deltashare`.

    Only a table that records our own revisions is touched. If the domain schema is gone (the seed's
    troubleshooting step "drop the schema"), the old record describes nothing and is dropped, so the
    upgrade rebuilds everything instead of believing the database is current.
    """
    if not _table_exists(conn, "public", VERSION_TABLE):
        return
    recorded = list(conn.scalars(text(f"SELECT version_num FROM public.{VERSION_TABLE}")))
    script = context.script
    if not recorded or not all(_known_revision(script, rev) for rev in recorded):
        return  # another application's bookkeeping: leave it alone
    if _table_exists(conn, VERSION_SCHEMA, VERSION_TABLE) or not _schema_exists(conn, VERSION_SCHEMA):
        conn.execute(text(f"DROP TABLE public.{VERSION_TABLE}"))
    else:
        conn.execute(text(f"ALTER TABLE public.{VERSION_TABLE} SET SCHEMA {VERSION_SCHEMA}"))


def _known_revision(script: object, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None  # type: ignore[attr-defined]
    except Exception:  # alembic raises several types for an unknown id; any of them means "not ours"
        return False


def clear_orphaned_runtime(conn: Connection) -> None:
    """Drop `workflow_runtime` when the domain schema it serves was dropped, so head can be rebuilt.

    The runtime schema holds only delivery plumbing (outbox, PostgreSQL queue) for share packs that no
    longer exist once `deltashare` is gone; the first migration creates it afresh.
    """
    if _table_exists(conn, VERSION_SCHEMA, VERSION_TABLE) or not _schema_exists(conn, RUNTIME_SCHEMA):
        return
    present = set(conn.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": RUNTIME_SCHEMA}
    ))
    if present <= RUNTIME_TABLES:
        conn.execute(text(f"DROP SCHEMA {RUNTIME_SCHEMA} CASCADE"))


def drop_version_table_at_base(ctx: object, step: object, heads: set[str], run_args: dict) -> None:
    """After a downgrade to base, remove the version table and, once empty, the domain schema.

    The first migration cannot drop `deltashare` itself: Alembic writes its last bookkeeping row there
    after the migration's own code has run.
    """
    if heads:
        return
    conn = ctx.connection  # type: ignore[attr-defined]
    conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_SCHEMA}.{VERSION_TABLE}"))
    empty = not conn.scalar(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE n.nspname = :s"), {"s": VERSION_SCHEMA})
    if empty:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {VERSION_SCHEMA}"))


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      include_schemas=True, include_name=include_name,
                      version_table=VERSION_TABLE, version_table_schema=VERSION_SCHEMA)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.execute(text("SET lock_timeout = '10s'"))
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            include_schemas=True,
            include_name=include_name,
            compare_server_default=True,
            version_table=VERSION_TABLE,
            version_table_schema=VERSION_SCHEMA,
            on_version_apply=drop_version_table_at_base,
        )
        with context.begin_transaction():
            # Two deploys migrating at once would race; the second waits here (released at commit).
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sharepack-workflow-alembic'))"))
            adopt_legacy_version_table(conn)
            clear_orphaned_runtime(conn)
            # Alembic creates its version table before the first migration creates the schema.
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
            context.run_migrations()
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
