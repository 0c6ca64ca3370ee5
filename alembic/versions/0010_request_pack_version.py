"""A request names the share pack version it asks for: `requests.share_pack_version`.

Every move of a pack (upload, revision, rollback, retry, reconcile) writes a request of its own, so a pack has
several current requests; the one its approval is read from is the one for its latest version. Existing rows
take the pack version that was current when they were written.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE deltashare.requests AS r
SET share_pack_version = (
    SELECT max(sp.version) FROM deltashare.share_packs AS sp
    WHERE sp.share_pack_id = r.share_pack_id AND sp.effective_from <= r.effective_from
)
"""


def upgrade() -> None:
    op.add_column("requests", sa.Column("share_pack_version", sa.Integer(), nullable=True), schema="deltashare")
    op.execute(BACKFILL)
    op.create_index(
        "ix_requests_share_pack_latest", "requests", ["share_pack_id", "share_pack_version"],
        schema="deltashare", postgresql_where=sa.text("is_current"),
    )


def downgrade() -> None:
    op.drop_index("ix_requests_share_pack_latest", table_name="requests", schema="deltashare")
    op.drop_column("requests", "share_pack_version", schema="deltashare")
