"""Pipelines belong to a workspace: `pipelines.workspace_url`, and names unique per workspace.

Databricks pipeline names are unique within a workspace, not across workspaces, so the natural key of a
pipeline row becomes (workspace_url, pipeline_name), as it is for recipients and shares. Existing rows
take the workspace of the share pack that declared them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE deltashare.pipelines AS p
SET workspace_url = (
    SELECT sp.workspace_url FROM deltashare.share_packs AS sp
    WHERE sp.share_pack_id = p.share_pack_id
    ORDER BY sp.version DESC LIMIT 1
)
"""


def upgrade() -> None:
    op.add_column("pipelines", sa.Column("workspace_url", sa.Text(), nullable=True), schema="deltashare")
    op.execute(BACKFILL)
    orphans = op.get_bind().scalar(sa.text("SELECT count(*) FROM deltashare.pipelines WHERE workspace_url IS NULL"))
    if orphans:
        # Refuse rather than guess a workspace: these rows name no share pack that says which one.
        raise RuntimeError(
            f"{orphans} pipelines rows have no share pack to take their workspace from; set "
            "deltashare.pipelines.workspace_url for them, then upgrade again"
        )
    op.alter_column("pipelines", "workspace_url", nullable=False, schema="deltashare")
    op.create_index(
        "uq_pipelines_current_workspace_url_pipeline_name",
        "pipelines",
        ["workspace_url", "pipeline_name"],
        unique=True,
        schema="deltashare",
        postgresql_where=sa.text("is_current AND NOT is_deleted"),
    )
    # The recording reads a pack's current pipelines (to delete those it no longer declares).
    op.create_index(
        "ix_pipelines_current_share_pack_id",
        "pipelines",
        ["share_pack_id"],
        schema="deltashare",
        postgresql_where=sa.text("is_current"),
    )


def downgrade() -> None:
    op.drop_index("ix_pipelines_current_share_pack_id", "pipelines", schema="deltashare")
    op.drop_index("uq_pipelines_current_workspace_url_pipeline_name", "pipelines", schema="deltashare")
    op.drop_column("pipelines", "workspace_url", schema="deltashare")
