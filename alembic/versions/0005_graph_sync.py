"""AD sync through Microsoft Graph: delta links, raw group memberships, tenants' allowed e-mail domains.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('graph_delta_links',
    sa.Column('resource', sa.Text(), nullable=False),
    sa.Column('delta_link', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('resource', name=op.f('pk_graph_delta_links')),
    schema='workflow_runtime'
    )
    op.create_table('graph_group_members',
    sa.Column('group_object_id', sa.Text(), nullable=False),
    sa.Column('member_object_id', sa.Text(), nullable=False),
    sa.Column('member_type', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('group_object_id', 'member_object_id', 'member_type',
                            name=op.f('pk_graph_group_members')),
    schema='workflow_runtime'
    )
    op.add_column('tenants', sa.Column('allowed_email_domains', postgresql.JSONB(astext_type=sa.Text()),
                                       server_default=sa.text("'[]'::jsonb"), nullable=False), schema='deltashare')
    # Users are looked up by directory object id on every sync batch.
    op.create_index('ix_users_current_ad_object_id', 'users', ['ad_object_id'], unique=False, schema='deltashare',
                    postgresql_where=sa.text('is_current'))
    op.create_index('ix_ad_groups_current_ad_object_id', 'ad_groups', ['ad_object_id'], unique=False,
                    schema='deltashare', postgresql_where=sa.text('is_current'))


def downgrade() -> None:
    op.drop_index('ix_ad_groups_current_ad_object_id', table_name='ad_groups', schema='deltashare')
    op.drop_index('ix_users_current_ad_object_id', table_name='users', schema='deltashare')
    op.drop_column('tenants', 'allowed_email_domains', schema='deltashare')
    op.drop_table('graph_group_members', schema='workflow_runtime')
    op.drop_table('graph_delta_links', schema='workflow_runtime')
