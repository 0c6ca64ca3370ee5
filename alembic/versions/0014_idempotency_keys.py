"""Idempotency keys: `workflow_runtime.idempotency_keys`, so a client's retried upload makes one share pack.

An upload or revision sent with an `Idempotency-Key` header keeps its first answer here; the same caller
sending the same key and body again gets that answer, a different body with the key gets 409. Rows are
pruned after their retention (`shared.use_cases.idempotency.RETENTION`), hence the index on `created_at`.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-06 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_idempotency_keys")),
        schema="workflow_runtime",
    )
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False,
        schema="workflow_runtime",
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys", schema="workflow_runtime")
    op.drop_table("idempotency_keys", schema="workflow_runtime")
