"""Alembic environment: migrations run against the service's own settings, one deploy at a time."""

from __future__ import annotations

import sys
from logging.config import fileConfig

from sqlalchemy import create_engine, pool, text

from alembic import context
from shared.db import database_url
from shared.errors import ConfigurationError
from shared.models import DOMAIN_SCHEMA, RUNTIME_SCHEMA, Base
from shared.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


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
        return database_url(Settings.from_env())
    except ConfigurationError as exc:
        sys.exit(f"error: {exc}")


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      include_schemas=True, include_name=include_name)
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
        )
        with context.begin_transaction():
            # Two deploys migrating at once would race; the second waits here (released at commit).
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sharepack-workflow-alembic'))"))
            context.run_migrations()
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
