"""The apps' database role (migration 0008) does its work and nothing more, whoever ran the migrations.

Written as an attacker holding an app's database credentials: they try to switch off the append-only
triggers, delete or rewrite the audit trail, truncate a log. All refused, while the app's own reads and
writes (a queue message, an audit row, a notification's delivery status) work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from alembic import command
from shared.models import APPEND_ONLY_MODELS
from shared.queue.postgres import PostgresQueue
from tests.support.postgres import alembic_config, create_database


def as_role(url: str, role: str) -> str:
    """The same database as another user (the embedded server trusts its Unix socket: no password)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@contextmanager
def connected(url: str, role: str) -> Iterator[Connection]:
    engine = create_engine(as_role(url, role), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def superuser(url: str, *statements: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture(scope="module")
def app_login(database_url: str) -> Iterator[str]:
    """A login role that is a member of sharepack_app, as each app's is in production."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    superuser(database_url, f"CREATE ROLE {name} LOGIN IN ROLE sharepack_app")
    yield name
    superuser(database_url, f"DROP ROLE {name}")


def refused(conn: Connection, statement: str, match: str) -> None:
    with pytest.raises((ProgrammingError, DBAPIError), match=match):
        conn.execute(text(statement))


def test_the_app_role_cannot_switch_off_the_append_only_triggers(database_url, app_login):
    with connected(database_url, app_login) as conn:
        refused(conn, "ALTER TABLE deltashare.audit_trail DISABLE TRIGGER audit_trail_append_only",
                "must be owner of table audit_trail")
        refused(conn, "ALTER TABLE deltashare.notifications DISABLE TRIGGER ALL", "must be owner of table")
        refused(conn, "DROP TRIGGER audit_trail_append_only ON deltashare.audit_trail", "must be owner")
        refused(conn, "CREATE TABLE deltashare.mine (id int)", "permission denied for schema deltashare")


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM deltashare.audit_trail",
        "UPDATE deltashare.audit_trail SET performed_by = 'mallory'",
        "TRUNCATE deltashare.audit_trail",
        "DELETE FROM deltashare.notifications",
        "UPDATE deltashare.notifications SET recipient_email = 'mallory@example.com'",
        "DELETE FROM deltashare.sync_jobs",
        "DELETE FROM deltashare.job_metrics",
        "UPDATE deltashare.project_costs SET tenant_id = NULL",
        "DELETE FROM deltashare.alembic_version",
    ],
)
def test_the_app_role_cannot_delete_or_rewrite_a_log(database_url, app_login, statement):
    with connected(database_url, app_login) as conn:
        refused(conn, statement, "permission denied for table")


def test_the_app_role_reads_and_writes_what_the_apps_do(database_url, app_login):
    engine = create_engine(as_role(database_url, app_login))
    try:
        queue = PostgresQueue(engine, f"roles-{uuid.uuid4().hex[:6]}")
        queue.send("hello")
        message = queue.receive(visibility_timeout=30)
        assert message is not None and message.content == "hello"
        queue.delete(message)
        with engine.begin() as conn:
            audit_id = conn.scalar(text(
                "INSERT INTO deltashare.audit_trail (entity_type, entity_id, action, performed_by) "
                "VALUES ('share_pack', 'x', 'CREATED', 'roles-test') RETURNING audit_id"
            ))
            assert conn.scalar(text("SELECT performed_by FROM deltashare.audit_trail WHERE audit_id = :id"),
                               {"id": audit_id}) == "roles-test"
            # A delivery column of a log may change (the trigger allows it, and so does the grant).
            conn.execute(text("UPDATE deltashare.notifications SET error_message = NULL WHERE false"))
            assert conn.scalar(text("SELECT count(*) FROM deltashare.alembic_version")) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("model", APPEND_ONLY_MODELS, ids=lambda model: model.__tablename__)
def test_every_append_only_log_grants_the_apps_no_delete_and_only_its_delivery_columns(engine, model):
    """Default privileges grant DML on a new table: a revision adding a log must take DELETE back, as 0008 did."""
    table = model.__tablename__
    with engine.connect() as conn:
        granted = set(conn.scalars(text(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'sharepack_app' AND table_schema = 'deltashare' AND table_name = :t"
        ), {"t": table}))
        updatable = set(conn.scalars(text(
            "SELECT column_name FROM information_schema.column_privileges WHERE grantee = 'sharepack_app' "
            "AND table_schema = 'deltashare' AND table_name = :t AND privilege_type = 'UPDATE'"
        ), {"t": table}))
    assert granted == {"SELECT", "INSERT"}
    assert updatable == set(model.__mutable_columns__)


@pytest.fixture
def owned_database(postgres_server_url: str) -> Iterator[tuple[str, str, str]]:
    """A database owned by a new non-superuser, and a group-role name no other database uses."""
    owner, group = f"owner_{uuid.uuid4().hex[:8]}", f"grp_{uuid.uuid4().hex[:8]}"
    superuser(postgres_server_url, f"CREATE ROLE {owner} LOGIN NOSUPERUSER")
    name = f"own_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server_url, name)
    superuser(postgres_server_url, f'ALTER DATABASE "{name}" OWNER TO {owner}')
    yield url, owner, group
    superuser(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    superuser(postgres_server_url, f"DROP ROLE IF EXISTS {group}", f"DROP ROLE IF EXISTS {owner}")


def migrate(url: str, owner: str, group: str) -> None:
    config = alembic_config(as_role(url, owner))
    config.attributes["app_role"] = group
    command.upgrade(config, "head")


def test_an_owner_with_createrole_migrates_and_its_apps_are_held_to_dml(owned_database, postgres_server_url):
    """Azure's administrator is such a role: CREATEROLE, not a superuser."""
    url, owner, group = owned_database
    superuser(postgres_server_url, f"ALTER ROLE {owner} CREATEROLE")
    migrate(url, owner, group)
    login = f"{group}_login"
    with connected(url, owner) as conn:  # PostgreSQL 16 made the creator the group's admin
        conn.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE {group}"))
    try:
        with connected(url, login) as conn:
            refused(conn, "ALTER TABLE deltashare.audit_trail DISABLE TRIGGER audit_trail_append_only",
                    "must be owner of table audit_trail")
            refused(conn, "DELETE FROM deltashare.audit_trail", "permission denied for table audit_trail")
            assert conn.scalar(text("SELECT count(*) FROM deltashare.share_packs")) == 0
    finally:
        superuser(postgres_server_url, f"DROP ROLE {login}")


def test_an_owner_without_createrole_needs_the_role_made_first(owned_database, postgres_server_url):
    url, owner, group = owned_database
    with pytest.raises(ProgrammingError, match=f"role {group} does not exist and {owner} may not create roles"):
        migrate(url, owner, group)
    superuser(postgres_server_url, f"CREATE ROLE {group} NOLOGIN")  # what the error's hint says to do
    migrate(url, owner, group)
    with connected(url, owner) as conn:
        granted = set(conn.scalars(text(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = :g AND table_schema = 'deltashare' AND table_name = 'audit_trail'"
        ), {"g": group}))
    assert granted == {"SELECT", "INSERT"}
