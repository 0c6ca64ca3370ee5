"""Least privilege: the role that migrates owns the schema; the apps get DML only, through `sharepack_app`.

Whoever runs the migrations owns every table (they created them), and an owner may do anything to its
tables, including `ALTER TABLE ... DISABLE TRIGGER` on the append-only logs. So the API, worker and sync
service must not connect as that role. This revision creates the NOLOGIN role `sharepack_app` (idempotent:
the role is cluster-wide, other databases may have made it) and grants it exactly what the apps do:

* `SELECT, INSERT, UPDATE, DELETE` on the tables of `deltashare` and `workflow_runtime`, and the use of their
  sequences, also for tables later revisions create (default privileges of the migrating role);
* on the five append-only logs only `SELECT`, `INSERT` and `UPDATE` of the delivery columns their trigger
  lets change (a notification's status, a sync job's counts): no `DELETE`, no `TRUNCATE`;
* `SELECT` on `alembic_version` (readiness compares it with head), nothing else on it.

Each app's login role is a member of `sharepack_app` (docs/deploy-azure.md, "Database roles"). The name
can be changed with `alembic -x app_role=<name> upgrade head` (or the config attribute `app_role`).

`CREATE ROLE` needs the CREATEROLE attribute (Azure's administrator and the embedded PostgreSQL's superuser
have it). A migrating role without it needs the role made beforehand by one that has it:
`CREATE ROLE sharepack_app NOLOGIN`; otherwise this revision stops and says so.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:45:00
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_APP_ROLE = "sharepack_app"
SCHEMAS = ("deltashare", "workflow_runtime")
# The append-only logs and the columns their trigger (deltashare.forbid_log_rewrite) lets change after insert,
# as 0001 declared them: a revision keeps its own copy (it must not change when the models do).
APPEND_ONLY = {
    "job_metrics": (),
    "project_costs": (),
    "audit_trail": (),
    "sync_jobs": ("status", "completed_at", "records_processed", "records_created", "records_updated",
                  "records_failed", "error_message", "details"),
    "notifications": ("status", "sent_at", "error_message"),
}

CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role {role} does not exist and % may not create roles', current_user
                USING HINT = 'As a role with CREATEROLE, run: CREATE ROLE {role} NOLOGIN',
                      ERRCODE = 'insufficient_privilege';
        END IF;
        BEGIN
            CREATE ROLE {role} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration made it at the same moment
        END;
    END IF;
END
$$
"""


def app_role() -> str:
    """The group role's name: `-x app_role=...`, the config attribute `app_role`, or sharepack_app."""
    name = context.get_x_argument(as_dictionary=True).get("app_role") or context.config.attributes.get(
        "app_role", DEFAULT_APP_ROLE
    )
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or name != name.lower():
        raise ValueError(f"app_role must be a lowercase SQL identifier, got {name!r}")
    return name


def upgrade() -> None:
    role = app_role()
    op.execute(CREATE_ROLE.format(role=role))
    schemas = ", ".join(SCHEMAS)
    op.execute(f"GRANT USAGE ON SCHEMA {schemas} TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schemas} TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schemas} TO {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} GRANT USAGE, SELECT ON SEQUENCES TO {role}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON deltashare.alembic_version FROM {role}")
    for table, mutable in APPEND_ONLY.items():
        op.execute(f"REVOKE UPDATE, DELETE ON deltashare.{table} FROM {role}")
        if mutable:
            op.execute(f"GRANT UPDATE ({', '.join(mutable)}) ON deltashare.{table} TO {role}")


def downgrade() -> None:
    # The role stays: it is cluster-wide, and other databases may grant to it.
    role = app_role()
    schemas = ", ".join(SCHEMAS)
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} REVOKE ALL ON TABLES FROM {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} REVOKE ALL ON SEQUENCES FROM {role}")
    for table, mutable in APPEND_ONLY.items():
        if mutable:
            op.execute(f"REVOKE UPDATE ({', '.join(mutable)}) ON deltashare.{table} FROM {role}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schemas} FROM {role}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schemas} FROM {role}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schemas} FROM {role}")
