"""Sync service runtime: notification delivery state and history, encrypted activation links, run requests,
and the token expiry thresholds already announced.

Also adds the NOTIFICATIONS sync type and the TOKEN_EXPIRY notification type, and removes the activation
links earlier versions wrote in plain text into `notifications.body` (a credential must not stay at rest;
those links expire with their tokens, and an operator re-issues one by rotating the token).

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-30 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNC_TYPES_BEFORE = ('AD_USERS', 'AD_GROUPS', 'DATABRICKS_OBJECTS', 'JOB_METRICS', 'PROJECT_COSTS')
SYNC_TYPES_AFTER = ('NOTIFICATIONS', *SYNC_TYPES_BEFORE)
NOTIFICATION_TYPES_BEFORE = ('PROVISION_SUCCESS', 'PROVISION_FAILURE', 'VALIDATION_FAILURE', 'SYNC_FAILURE',
                             'PIPELINE_FAILURE', 'APPROVAL_REQUIRED', 'RECIPIENT_ACTIVATION')
NOTIFICATION_TYPES_AFTER = (*NOTIFICATION_TYPES_BEFORE, 'TOKEN_EXPIRY')

WITHHELD_BODY = 'Activation link withheld: links are no longer stored in plain text; rotate the token to re-issue one.'


def _check(table: str, column: str, values: tuple[str, ...], *, not_valid: bool = False) -> None:
    """Replace the CHECK listing a column's values. NOT VALID on downgrade: logged rows of the newer
    values stay (the logs are append-only) while new rows are held to the older list."""
    name = f'ck_{table}_{column}_valid'
    listed = ', '.join(f"'{v}'" for v in values)
    op.execute(f'ALTER TABLE deltashare.{table} DROP CONSTRAINT {name}')
    op.execute(f'ALTER TABLE deltashare.{table} ADD CONSTRAINT {name} CHECK ({column} IN ({listed}))'
               + (' NOT VALID' if not_valid else ''))


def upgrade() -> None:
    op.create_table('notification_deliveries',
    sa.Column('notification_id', sa.UUID(), nullable=False),
    sa.Column('message_id', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sending_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('notification_id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('message_id', name=op.f('uq_notification_deliveries_message_id')),
    schema='workflow_runtime'
    )
    op.create_table('notification_events',
    sa.Column('event_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('notification_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_notification_events')),
    schema='workflow_runtime'
    )
    op.create_index('ix_notification_events_notification', 'notification_events', ['notification_id', 'event_id'],
                    unique=False, schema='workflow_runtime')
    op.create_table('activation_links',
    sa.Column('notification_id', sa.UUID(), nullable=False),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('recipient_name', sa.Text(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('notification_id', name=op.f('pk_activation_links')),
    schema='workflow_runtime'
    )
    op.create_table('sync_run_requests',
    sa.Column('sync_type', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('sync_type', name=op.f('pk_sync_run_requests')),
    schema='workflow_runtime'
    )
    op.create_table('token_expiry_notices',
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('recipient_name', sa.Text(), nullable=False),
    sa.Column('token_id', sa.Text(), nullable=False),
    sa.Column('threshold_days', sa.Integer(), nullable=False),
    sa.Column('noticed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('workspace_url', 'recipient_name', 'token_id', 'threshold_days',
                            name=op.f('pk_token_expiry_notices')),
    schema='workflow_runtime'
    )
    _check('sync_jobs', 'sync_type', SYNC_TYPES_AFTER)
    _check('notifications', 'notification_type', NOTIFICATION_TYPES_AFTER)
    # `notifications` is append-only (its trigger refuses rewrites): this one deliberate scrub bypasses it.
    op.execute('ALTER TABLE deltashare.notifications DISABLE TRIGGER notifications_append_only')
    op.execute(sa.text(
        "UPDATE deltashare.notifications SET body = :body, "
        "status = CASE WHEN status = 'PENDING' THEN 'FAILED' ELSE status END, "
        "error_message = CASE WHEN status = 'PENDING' THEN :error ELSE error_message END "
        "WHERE notification_type = 'RECIPIENT_ACTIVATION'"
    ).bindparams(body=WITHHELD_BODY, error='Never sent: the link was stored in plain text and has been removed'))
    op.execute('ALTER TABLE deltashare.notifications ENABLE TRIGGER notifications_append_only')


def downgrade() -> None:
    _check('notifications', 'notification_type', NOTIFICATION_TYPES_BEFORE, not_valid=True)
    _check('sync_jobs', 'sync_type', SYNC_TYPES_BEFORE, not_valid=True)
    op.drop_table('token_expiry_notices', schema='workflow_runtime')
    op.drop_table('sync_run_requests', schema='workflow_runtime')
    op.drop_table('activation_links', schema='workflow_runtime')
    op.drop_index('ix_notification_events_notification', table_name='notification_events', schema='workflow_runtime')
    op.drop_table('notification_events', schema='workflow_runtime')
    op.drop_table('notification_deliveries', schema='workflow_runtime')
