"""Console sessions on the server: `workflow_runtime.console_sessions`, so sign-out and lifetimes hold.

A signed cookie alone cannot be revoked: a copy taken before sign-out would stay valid. Each console
session now has a row (keyed by the SHA-256 of the cookie's random session id) that sign-out revokes and
whose creation and last use bound its absolute and idle lifetimes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("session_hash", sa.Text(), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_console_sessions")),
        schema="workflow_runtime",
    )


def downgrade() -> None:
    op.drop_table("console_sessions", schema="workflow_runtime")
