"""Drift: the Databricks sync's recipients and shares in databricks_objects, and the drift findings.

`databricks_objects` gains `properties` (what drift is judged on) and the types RECIPIENT and SHARE; its
natural key becomes (workspace, type, name), since a recipient and a share may share a name. The findings
are derived data, replaced by each sync, so they live in `workflow_runtime`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TYPES = "'TABLE', 'VIEW', 'SCHEMA', 'CATALOG', 'NOTEBOOK', 'VOLUME', 'MODEL'"
NEW_TYPES = OLD_TYPES + ", 'RECIPIENT', 'SHARE'"


def upgrade() -> None:
    op.add_column(
        "databricks_objects",
        sa.Column(
            "properties", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        schema="deltashare",
    )
    op.drop_constraint(op.f("ck_databricks_objects_object_type_valid"), "databricks_objects", schema="deltashare")
    op.create_check_constraint(
        op.f("ck_databricks_objects_object_type_valid"), "databricks_objects", f"object_type IN ({NEW_TYPES})", schema="deltashare"
    )
    op.drop_index("uq_databricks_objects_current_workspace_url_full_name", "databricks_objects", schema="deltashare")
    op.create_index(
        "uq_databricks_objects_current_name",
        "databricks_objects",
        ["workspace_url", "object_type", "full_name"],
        unique=True,
        schema="deltashare",
        postgresql_where=sa.text("is_current AND NOT is_deleted"),
    )
    op.create_table(
        "drift_findings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("workspace_url", sa.Text(), nullable=False),
        sa.Column("share_pack_id", sa.UUID(), nullable=True),
        sa.Column("sync_job_id", sa.UUID(), nullable=True),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("expected", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("actual", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_findings")),
        schema="workflow_runtime",
    )
    op.create_index(
        "ix_drift_findings_workspace_pack",
        "drift_findings",
        ["workspace_url", "share_pack_id"],
        unique=False,
        schema="workflow_runtime",
    )


def downgrade() -> None:
    op.drop_index("ix_drift_findings_workspace_pack", table_name="drift_findings", schema="workflow_runtime")
    op.drop_table("drift_findings", schema="workflow_runtime")
    op.execute("DELETE FROM deltashare.databricks_objects WHERE object_type IN ('RECIPIENT', 'SHARE')")
    op.drop_index(
        "uq_databricks_objects_current_name", "databricks_objects", schema="deltashare"
    )
    op.create_index(
        "uq_databricks_objects_current_workspace_url_full_name",
        "databricks_objects",
        ["workspace_url", "full_name"],
        unique=True,
        schema="deltashare",
        postgresql_where=sa.text("is_current AND NOT is_deleted"),
    )
    op.drop_constraint(op.f("ck_databricks_objects_object_type_valid"), "databricks_objects", schema="deltashare")
    op.create_check_constraint(
        op.f("ck_databricks_objects_object_type_valid"), "databricks_objects", f"object_type IN ({OLD_TYPES})", schema="deltashare"
    )
    op.drop_column("databricks_objects", "properties", schema="deltashare")
