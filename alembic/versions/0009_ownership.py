"""Data scoping: what tenants and projects may share, and which metastores are a tenant's own.

`tenants.shareable_scope` and `projects.shareable_scope` list the catalogs (``sales``) or schemas
(``sales.reporting``) whose tables, views and schemas a pack may share or feed with a pipeline; empty
declares no limit at that level, so existing tenants keep working until an administrator declares theirs.
`tenants.own_metastores` lists the global metastore ids of the tenant's own Databricks metastores: under the
`external` approval rule, a D2D recipient on any other metastore is external.

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-06 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("tenants", "shareable_scope"), ("tenants", "own_metastores"), ("projects", "shareable_scope"))


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(
            table,
            sa.Column(column, postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
            schema="deltashare",
        )


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column, schema="deltashare")
