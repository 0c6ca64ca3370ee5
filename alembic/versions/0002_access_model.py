"""Access model: tenants' approval rule, the owning project of recipients and shares, approval statuses.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "deltashare"
OLD_PACK_STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED", "VALIDATION_FAILED")
NEW_PACK_STATUSES = ("PENDING_APPROVAL", "DECLINED", *OLD_PACK_STATUSES)
OLD_REQUEST_STATUSES = ("SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED")
OLD_AUDIT_ACTIONS = (
    "CREATED", "UPDATED", "DELETED", "STATUS_CHANGED", "PROVISIONED", "RECREATED", "APPROVED", "DECLINED", "REJECTED",
)
NEW_AUDIT_ACTIONS = (*OLD_AUDIT_ACTIONS, "IMPORTED")
NEW_REQUEST_STATUSES = ("SUBMITTED", "PENDING_APPROVAL", "APPROVED", "DECLINED", "IN_PROGRESS", "COMPLETED", "FAILED")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_check(table: str, column: str, values: Sequence[str]) -> None:
    name = op.f(f"ck_{table}_{column}_valid")  # op.f: already final, not run through the naming convention
    op.drop_constraint(name, table, schema=SCHEMA, type_="check")
    op.create_check_constraint(name, table, _one_of(column, values), schema=SCHEMA)


def upgrade() -> None:
    op.add_column('tenants', sa.Column('approval_required', sa.Text(), server_default=sa.text("'never'"), nullable=False), schema=SCHEMA)
    op.create_check_constraint(
        op.f('ck_tenants_approval_required_valid'), 'tenants', _one_of('approval_required', ('always', 'external', 'never')),
        schema=SCHEMA,
    )
    for table in ('recipients', 'shares'):
        op.add_column(table, sa.Column('project_id', postgresql.UUID(as_uuid=True), nullable=True), schema=SCHEMA)
    _replace_check('share_packs', 'share_pack_status', NEW_PACK_STATUSES)
    _replace_check('requests', 'status', NEW_REQUEST_STATUSES)
    _replace_check('audit_trail', 'action', NEW_AUDIT_ACTIONS)


def downgrade() -> None:
    # Rows in the new statuses cannot be expressed by 0001's constraints: close them as FAILED first.
    op.execute(
        f"UPDATE {SCHEMA}.share_packs SET share_pack_status = 'FAILED' "
        "WHERE share_pack_status IN ('PENDING_APPROVAL', 'DECLINED')"
    )
    op.execute(
        f"UPDATE {SCHEMA}.requests SET status = 'FAILED' WHERE status IN ('PENDING_APPROVAL', 'APPROVED', 'DECLINED')"
    )
    # audit_trail is append-only: IMPORTED rows stay, so the old constraint is restored NOT VALID.
    op.drop_constraint(op.f('ck_audit_trail_action_valid'), 'audit_trail', schema=SCHEMA, type_='check')
    op.execute(
        f"ALTER TABLE {SCHEMA}.audit_trail ADD CONSTRAINT ck_audit_trail_action_valid "
        f"CHECK ({_one_of('action', OLD_AUDIT_ACTIONS)}) NOT VALID"
    )
    _replace_check('requests', 'status', OLD_REQUEST_STATUSES)
    _replace_check('share_packs', 'share_pack_status', OLD_PACK_STATUSES)
    for table in ('shares', 'recipients'):
        op.drop_column(table, 'project_id', schema=SCHEMA)
    op.drop_constraint(op.f('ck_tenants_approval_required_valid'), 'tenants', schema=SCHEMA, type_='check')
    op.drop_column('tenants', 'approval_required', schema=SCHEMA)
