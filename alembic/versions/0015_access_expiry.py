"""Time-boxed access and recertification: what expires and when (`access_expiries`, written when a pack
completes), the reminders already queued (`access_notices`), which projects require recertification every
N days (`project_recertification`) and when each pack was last confirmed (`pack_certifications`).

Also adds the ACCESS_EXPIRY sync type and notification type.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-06 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNC_TYPES_BEFORE = ("NOTIFICATIONS", "AD_USERS", "AD_GROUPS", "DATABRICKS_OBJECTS", "JOB_METRICS", "PROJECT_COSTS")
NOTIFICATION_TYPES_BEFORE = ("PROVISION_SUCCESS", "PROVISION_FAILURE", "VALIDATION_FAILURE", "SYNC_FAILURE",
                             "PIPELINE_FAILURE", "APPROVAL_REQUIRED", "RECIPIENT_ACTIVATION", "TOKEN_EXPIRY")


def _check(table: str, column: str, values: tuple[str, ...], *, not_valid: bool = False) -> None:
    """Replace the CHECK listing a column's values (NOT VALID on downgrade: logged rows stay)."""
    name = f"ck_{table}_{column}_valid"
    listed = ", ".join(f"'{v}'" for v in values)
    op.execute(f"ALTER TABLE deltashare.{table} DROP CONSTRAINT {name}")
    op.execute(f"ALTER TABLE deltashare.{table} ADD CONSTRAINT {name} CHECK ({column} IN ({listed}))"
               + (" NOT VALID" if not_valid else ""))


def upgrade() -> None:
    op.create_table(
        "access_expiries",
        sa.Column("share_pack_id", sa.UUID(), nullable=False),
        sa.Column("recipient_name", sa.Text(), nullable=False),
        sa.Column("share_name", sa.Text(), nullable=False),
        sa.Column("workspace_url", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("share_pack_id", "recipient_name", "share_name", name=op.f("pk_access_expiries")),
        schema="workflow_runtime",
    )
    op.create_index("ix_access_expiries_expires_at", "access_expiries", ["expires_at"], schema="workflow_runtime")
    op.create_table(
        "access_notices",
        sa.Column("share_pack_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("share_pack_id", "subject", "due_at", "threshold_days",
                                name=op.f("pk_access_notices")),
        schema="workflow_runtime",
    )
    op.create_table(
        "project_recertification",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("every_days BETWEEN 1 AND 3660",
                           name=op.f("ck_project_recertification_every_days_range")),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_recertification")),
        schema="workflow_runtime",
    )
    op.create_table(
        "pack_certifications",
        sa.Column("share_pack_id", sa.UUID(), nullable=False),
        sa.Column("certified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certified_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("share_pack_id", name=op.f("pk_pack_certifications")),
        schema="workflow_runtime",
    )
    _check("sync_jobs", "sync_type", (*SYNC_TYPES_BEFORE, "ACCESS_EXPIRY"))
    _check("notifications", "notification_type", (*NOTIFICATION_TYPES_BEFORE, "ACCESS_EXPIRY"))


def downgrade() -> None:
    _check("notifications", "notification_type", NOTIFICATION_TYPES_BEFORE, not_valid=True)
    _check("sync_jobs", "sync_type", SYNC_TYPES_BEFORE, not_valid=True)
    op.drop_table("pack_certifications", schema="workflow_runtime")
    op.drop_table("project_recertification", schema="workflow_runtime")
    op.drop_index("ix_access_expiries_expires_at", table_name="access_expiries", schema="workflow_runtime")
    op.drop_table("access_expiries", schema="workflow_runtime")
    op.drop_table("access_notices", schema="workflow_runtime")
