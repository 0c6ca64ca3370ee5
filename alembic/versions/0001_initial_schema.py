"""Initial schema: the 16 domain tables in `deltashare` and the runtime plumbing in `workflow_runtime`.

Besides the tables, the database enforces two rules the code must never be trusted alone with:
history constraints (declared on the tables) and append-only logs (the trigger below).

Revision ID: 0001
Revises:
Create Date: 2026-11-27 02:30:07.806279
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Log tables and the delivery columns they may still fill in after insert (see shared.models.logs).
APPEND_ONLY = {
    "job_metrics": (),
    "project_costs": (),
    "audit_trail": (),
    "sync_jobs": ("status", "completed_at", "records_processed", "records_created", "records_updated",
                  "records_failed", "error_message", "details"),
    "notifications": ("status", "sent_at", "error_message"),
}

FORBID_LOG_REWRITE = """
CREATE FUNCTION deltashare.forbid_log_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '% is append-only: rows cannot be deleted', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - coalesce(TG_ARGV, '{}')) IS DISTINCT FROM (to_jsonb(OLD) - coalesce(TG_ARGV, '{}')) THEN
        RAISE EXCEPTION '% is append-only: rows cannot be rewritten (changeable after insert: %)',
            TG_TABLE_NAME, coalesce(array_to_string(TG_ARGV, ', '), 'nothing')
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS deltashare")
    op.execute("CREATE SCHEMA IF NOT EXISTS workflow_runtime")
    op.create_table('ad_groups',
    sa.Column('group_id', sa.UUID(), nullable=False),
    sa.Column('group_name', sa.Text(), nullable=False),
    sa.Column('ad_object_id', sa.Text(), nullable=True),
    sa.Column('members', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('source', sa.Text(), server_default=sa.text("'azure_ad'"), nullable=False),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_ad_groups_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_ad_groups_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_ad_groups_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_ad_groups')),
    sa.UniqueConstraint('group_id', 'version', name=op.f('uq_ad_groups_group_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_ad_groups_current_group_id', 'ad_groups', ['group_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_index('uq_ad_groups_current_group_name', 'ad_groups', ['group_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_table('audit_trail',
    sa.Column('audit_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('entity_type', sa.Text(), nullable=False),
    sa.Column('entity_id', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('performed_by', sa.Text(), nullable=False),
    sa.Column('old_values', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('new_values', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.Column('timestamp', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.CheckConstraint("action IN ('CREATED', 'UPDATED', 'DELETED', 'STATUS_CHANGED', 'PROVISIONED', 'RECREATED', 'APPROVED', 'DECLINED', 'REJECTED')", name=op.f('ck_audit_trail_action_valid')),
    sa.PrimaryKeyConstraint('audit_id', name=op.f('pk_audit_trail')),
    schema='deltashare'
    )
    op.create_index('ix_audit_trail_entity', 'audit_trail', ['entity_type', 'entity_id', 'timestamp'], unique=False, schema='deltashare')
    op.create_table('databricks_objects',
    sa.Column('object_id', sa.UUID(), nullable=False),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('full_name', sa.Text(), nullable=False),
    sa.Column('object_type', sa.Text(), nullable=False),
    sa.Column('catalog_name', sa.Text(), nullable=True),
    sa.Column('schema_name', sa.Text(), nullable=True),
    sa.Column('table_name', sa.Text(), nullable=True),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("object_type IN ('TABLE', 'VIEW', 'SCHEMA', 'CATALOG', 'NOTEBOOK', 'VOLUME', 'MODEL')", name=op.f('ck_databricks_objects_object_type_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_databricks_objects_effective_interval_ordered')),
    sa.CheckConstraint('full_name = lower(full_name)', name=op.f('ck_databricks_objects_full_name_lowercase')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_databricks_objects_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_databricks_objects_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_databricks_objects')),
    sa.UniqueConstraint('object_id', 'version', name=op.f('uq_databricks_objects_object_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_databricks_objects_current_object_id', 'databricks_objects', ['object_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_index('uq_databricks_objects_current_workspace_url_full_name', 'databricks_objects', ['workspace_url', 'full_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_table('job_metrics',
    sa.Column('metrics_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('pipeline_id', sa.UUID(), nullable=True),
    sa.Column('databricks_pipeline_id', sa.Text(), nullable=True),
    sa.Column('pipeline_name', sa.Text(), nullable=True),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('collected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('metrics_id', name=op.f('pk_job_metrics')),
    sa.UniqueConstraint('run_id', name=op.f('uq_job_metrics_run_id')),
    schema='deltashare'
    )
    op.create_table('notifications',
    sa.Column('notification_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('notification_type', sa.Text(), nullable=False),
    sa.Column('recipient_email', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('related_entity_type', sa.Text(), nullable=True),
    sa.Column('related_entity_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'PENDING'"), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("notification_type IN ('PROVISION_SUCCESS', 'PROVISION_FAILURE', 'VALIDATION_FAILURE', 'SYNC_FAILURE', 'PIPELINE_FAILURE', 'APPROVAL_REQUIRED', 'RECIPIENT_ACTIVATION')", name=op.f('ck_notifications_notification_type_valid')),
    sa.CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name=op.f('ck_notifications_status_valid')),
    sa.PrimaryKeyConstraint('notification_id', name=op.f('pk_notifications')),
    schema='deltashare'
    )
    op.create_index('ix_notifications_pending', 'notifications', ['created_at'], unique=False, schema='deltashare', postgresql_where=sa.text("status = 'PENDING'"))
    op.create_table('pipelines',
    sa.Column('pipeline_id', sa.UUID(), nullable=False),
    sa.Column('share_pack_id', sa.UUID(), nullable=True),
    sa.Column('share_id', sa.UUID(), nullable=True),
    sa.Column('pipeline_name', sa.Text(), nullable=False),
    sa.Column('databricks_pipeline_id', sa.Text(), nullable=True),
    sa.Column('databricks_job_id', sa.Text(), nullable=True),
    sa.Column('name_prefix', sa.Text(), nullable=True),
    sa.Column('asset_name', sa.Text(), nullable=True),
    sa.Column('source_table', sa.Text(), nullable=True),
    sa.Column('target_table', sa.Text(), nullable=True),
    sa.Column('scd_type', sa.Text(), nullable=True),
    sa.Column('key_columns', sa.Text(), nullable=True),
    sa.Column('schedule_type', sa.Text(), nullable=True),
    sa.Column('cron_expression', sa.Text(), nullable=True),
    sa.Column('cron_timezone', sa.Text(), nullable=True),
    sa.Column('notification_list', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('tags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('serverless', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('request_source', sa.Text(), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("scd_type IS NULL OR scd_type IN ('1', '2', 'full_refresh')", name=op.f('ck_pipelines_scd_type_valid')),
    sa.CheckConstraint("schedule_type IS NULL OR schedule_type IN ('CRON', 'CONTINUOUS')", name=op.f('ck_pipelines_schedule_type_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_pipelines_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_pipelines_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_pipelines_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_pipelines')),
    sa.UniqueConstraint('pipeline_id', 'version', name=op.f('uq_pipelines_pipeline_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_pipelines_current_pipeline_id', 'pipelines', ['pipeline_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('project_costs',
    sa.Column('cost_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('project_id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=True),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_type', sa.Text(), nullable=False),
    sa.Column('databricks_cost', sa.Numeric(precision=14, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('azure_cost', sa.Numeric(precision=14, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('network_cost', sa.Numeric(precision=14, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('io_cost', sa.Numeric(precision=14, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('total_cost', sa.Numeric(precision=14, scale=2), sa.Computed('databricks_cost + azure_cost + network_cost + io_cost', persisted=True), nullable=False),
    sa.Column('currency', sa.Text(), server_default=sa.text("'USD'"), nullable=False),
    sa.Column('collected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('cost_id', name=op.f('pk_project_costs')),
    schema='deltashare'
    )
    op.create_table('projects',
    sa.Column('project_id', sa.UUID(), nullable=False),
    sa.Column('project_name', sa.Text(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('approver', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('configurator', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_projects_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_projects_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_projects_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_projects')),
    sa.UniqueConstraint('project_id', 'version', name=op.f('uq_projects_project_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_projects_current_project_id', 'projects', ['project_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_index('uq_projects_current_tenant_id_project_name', 'projects', ['tenant_id', 'project_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_table('recipients',
    sa.Column('recipient_id', sa.UUID(), nullable=False),
    sa.Column('share_pack_id', sa.UUID(), nullable=True),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('recipient_name', sa.Text(), nullable=False),
    sa.Column('recipient_contact_email', sa.Text(), nullable=True),
    sa.Column('recipient_type', sa.Text(), nullable=False),
    sa.Column('recipient_databricks_org', sa.Text(), nullable=True),
    sa.Column('recipient_databricks_id', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('client_ip_addresses', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('token_expiry_days', sa.Integer(), nullable=True),
    sa.Column('token_rotation', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('request_source', sa.Text(), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("recipient_type IN ('D2O', 'D2D')", name=op.f('ck_recipients_recipient_type_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_recipients_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_recipients_current_iff_open')),
    sa.CheckConstraint('recipient_name = lower(recipient_name)', name=op.f('ck_recipients_recipient_name_lowercase')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_recipients_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_recipients')),
    sa.UniqueConstraint('recipient_id', 'version', name=op.f('uq_recipients_recipient_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_recipients_current_recipient_id', 'recipients', ['recipient_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_index('uq_recipients_current_workspace_url_recipient_name', 'recipients', ['workspace_url', 'recipient_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_table('requests',
    sa.Column('request_id', sa.UUID(), nullable=False),
    sa.Column('project_id', sa.UUID(), nullable=True),
    sa.Column('share_pack_id', sa.UUID(), nullable=False),
    sa.Column('requested_by', sa.Text(), nullable=False),
    sa.Column('approved_by', sa.Text(), nullable=True),
    sa.Column('assigned_to', sa.Text(), nullable=True),
    sa.Column('service_now_ticket', sa.Text(), nullable=True),
    sa.Column('ado_ticket', sa.Text(), nullable=True),
    sa.Column('request_description', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('request_type', sa.Text(), nullable=False),
    sa.Column('approver_status', sa.Text(), nullable=True),
    sa.Column('assigned_datetime', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_datetime', sa.DateTime(timezone=True), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('SUBMITTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED')", name=op.f('ck_requests_status_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_requests_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_requests_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_requests_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_requests')),
    sa.UniqueConstraint('request_id', 'version', name=op.f('uq_requests_request_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_requests_current_request_id', 'requests', ['request_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('share_packs',
    sa.Column('share_pack_id', sa.UUID(), nullable=False),
    sa.Column('share_pack_name', sa.Text(), nullable=False),
    sa.Column('share_pack_status', sa.Text(), nullable=False),
    sa.Column('provisioning_status', sa.Text(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.Text(), nullable=False),
    sa.Column('strategy', sa.Text(), nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('plan', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('validation_warnings', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('file_format', sa.Text(), nullable=False),
    sa.Column('original_filename', sa.Text(), nullable=True),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=True),
    sa.Column('project_id', sa.UUID(), nullable=True),
    sa.Column('project_name', sa.Text(), nullable=True),
    sa.Column('request_source', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("file_format IN ('yaml', 'xlsx')", name=op.f('ck_share_packs_file_format_valid')),
    sa.CheckConstraint("share_pack_status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED', 'VALIDATION_FAILED')", name=op.f('ck_share_packs_share_pack_status_valid')),
    sa.CheckConstraint("strategy IN ('NEW', 'UPDATE', 'DELETE')", name=op.f('ck_share_packs_strategy_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_share_packs_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_share_packs_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_share_packs_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_share_packs')),
    sa.UniqueConstraint('share_pack_id', 'version', name=op.f('uq_share_packs_share_pack_id_version')),
    schema='deltashare'
    )
    op.create_index('ix_share_packs_current_listing', 'share_packs', ['is_current', 'share_pack_status', 'effective_from'], unique=False, schema='deltashare')
    op.create_index('uq_share_packs_current_share_pack_id', 'share_packs', ['share_pack_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('shares',
    sa.Column('share_id', sa.UUID(), nullable=False),
    sa.Column('share_pack_id', sa.UUID(), nullable=True),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('share_name', sa.Text(), nullable=False),
    sa.Column('databricks_share_id', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('share_assets', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('recipients', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('ext_catalog_name', sa.Text(), nullable=True),
    sa.Column('ext_schema_name', sa.Text(), nullable=True),
    sa.Column('prefix_assetname', sa.Text(), nullable=True),
    sa.Column('share_tags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('request_source', sa.Text(), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_shares_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_shares_current_iff_open')),
    sa.CheckConstraint('share_name = lower(share_name)', name=op.f('ck_shares_share_name_lowercase')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_shares_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_shares')),
    sa.UniqueConstraint('share_id', 'version', name=op.f('uq_shares_share_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_shares_current_share_id', 'shares', ['share_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_index('uq_shares_current_workspace_url_share_name', 'shares', ['workspace_url', 'share_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_table('sync_jobs',
    sa.Column('sync_job_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('sync_type', sa.Text(), nullable=False),
    sa.Column('workspace_url', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('records_processed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('records_created', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('records_updated', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('records_failed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.CheckConstraint("status IN ('RUNNING', 'COMPLETED', 'FAILED', 'INTERRUPTED')", name=op.f('ck_sync_jobs_status_valid')),
    sa.CheckConstraint("sync_type IN ('AD_USERS', 'AD_GROUPS', 'DATABRICKS_OBJECTS', 'JOB_METRICS', 'PROJECT_COSTS')", name=op.f('ck_sync_jobs_sync_type_valid')),
    sa.PrimaryKeyConstraint('sync_job_id', name=op.f('pk_sync_jobs')),
    schema='deltashare'
    )
    op.create_table('tenant_regions',
    sa.Column('tenant_region_id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('region', sa.Text(), nullable=False),
    sa.Column('workspace_url', sa.Text(), nullable=False),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("region IN ('AM', 'EMEA', 'APAC')", name=op.f('ck_tenant_regions_region_valid')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_tenant_regions_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_tenant_regions_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_tenant_regions_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_tenant_regions')),
    sa.UniqueConstraint('tenant_region_id', 'version', name=op.f('uq_tenant_regions_tenant_region_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_tenant_regions_current_tenant_id_region', 'tenant_regions', ['tenant_id', 'region'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_index('uq_tenant_regions_current_tenant_region_id', 'tenant_regions', ['tenant_region_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('tenants',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('business_line_name', sa.Text(), nullable=False),
    sa.Column('short_name', sa.Text(), nullable=True),
    sa.Column('executive_team', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('configurator_ad_group', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.Column('contact_email', sa.Text(), nullable=True),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_tenants_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_tenants_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_tenants_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('tenant_id', 'version', name=op.f('uq_tenants_tenant_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_tenants_current_business_line_name', 'tenants', ['business_line_name'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_index('uq_tenants_current_tenant_id', 'tenants', ['tenant_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('users',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('job_title', sa.Text(), nullable=True),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('ad_object_id', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), server_default=sa.text("'azure_ad'"), nullable=False),
    sa.Column('record_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('change_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('effective_to IS NULL OR effective_to > effective_from', name=op.f('ck_users_effective_interval_ordered')),
    sa.CheckConstraint('is_current = (effective_to IS NULL)', name=op.f('ck_users_current_iff_open')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_users_version_positive')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_users')),
    sa.UniqueConstraint('user_id', 'version', name=op.f('uq_users_user_id_version')),
    schema='deltashare'
    )
    op.create_index('uq_users_current_email', 'users', ['email'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.create_index('uq_users_current_user_id', 'users', ['user_id'], unique=True, schema='deltashare', postgresql_where=sa.text('is_current'))
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('queue_name', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    schema='workflow_runtime'
    )
    op.create_index('ix_outbox_unpublished', 'outbox', ['id'], unique=False, schema='workflow_runtime', postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('queue_messages',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('queue_name', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('inserted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('visible_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('dequeue_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('pop_receipt', sa.UUID(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_messages')),
    schema='workflow_runtime'
    )
    op.create_index('ix_queue_messages_ready', 'queue_messages', ['queue_name', 'visible_at'], unique=False, schema='workflow_runtime')
    op.execute(FORBID_LOG_REWRITE)
    for table, mutable in APPEND_ONLY.items():
        args = ", ".join(f"'{column}'" for column in mutable)
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON deltashare.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION deltashare.forbid_log_rewrite({args})"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON deltashare.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION deltashare.forbid_log_rewrite()"
        )


def downgrade() -> None:
    op.drop_index('ix_queue_messages_ready', table_name='queue_messages', schema='workflow_runtime')
    op.drop_table('queue_messages', schema='workflow_runtime')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', schema='workflow_runtime', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_table('outbox', schema='workflow_runtime')
    op.drop_index('uq_users_current_user_id', table_name='users', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_index('uq_users_current_email', table_name='users', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_table('users', schema='deltashare')
    op.drop_index('uq_tenants_current_tenant_id', table_name='tenants', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_index('uq_tenants_current_business_line_name', table_name='tenants', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_table('tenants', schema='deltashare')
    op.drop_index('uq_tenant_regions_current_tenant_region_id', table_name='tenant_regions', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_index('uq_tenant_regions_current_tenant_id_region', table_name='tenant_regions', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_table('tenant_regions', schema='deltashare')
    op.drop_table('sync_jobs', schema='deltashare')
    op.drop_index('uq_shares_current_workspace_url_share_name', table_name='shares', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_index('uq_shares_current_share_id', table_name='shares', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('shares', schema='deltashare')
    op.drop_index('uq_share_packs_current_share_pack_id', table_name='share_packs', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_index('ix_share_packs_current_listing', table_name='share_packs', schema='deltashare')
    op.drop_table('share_packs', schema='deltashare')
    op.drop_index('uq_requests_current_request_id', table_name='requests', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('requests', schema='deltashare')
    op.drop_index('uq_recipients_current_workspace_url_recipient_name', table_name='recipients', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_index('uq_recipients_current_recipient_id', table_name='recipients', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('recipients', schema='deltashare')
    op.drop_index('uq_projects_current_tenant_id_project_name', table_name='projects', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_index('uq_projects_current_project_id', table_name='projects', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('projects', schema='deltashare')
    op.drop_table('project_costs', schema='deltashare')
    op.drop_index('uq_pipelines_current_pipeline_id', table_name='pipelines', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('pipelines', schema='deltashare')
    op.drop_index('ix_notifications_pending', table_name='notifications', schema='deltashare', postgresql_where=sa.text("status = 'PENDING'"))
    op.drop_table('notifications', schema='deltashare')
    op.drop_table('job_metrics', schema='deltashare')
    op.drop_index('uq_databricks_objects_current_workspace_url_full_name', table_name='databricks_objects', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_index('uq_databricks_objects_current_object_id', table_name='databricks_objects', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('databricks_objects', schema='deltashare')
    op.drop_index('ix_audit_trail_entity', table_name='audit_trail', schema='deltashare')
    op.drop_table('audit_trail', schema='deltashare')
    op.drop_index('uq_ad_groups_current_group_name', table_name='ad_groups', schema='deltashare', postgresql_where=sa.text('is_current AND NOT is_deleted'))
    op.drop_index('uq_ad_groups_current_group_id', table_name='ad_groups', schema='deltashare', postgresql_where=sa.text('is_current'))
    op.drop_table('ad_groups', schema='deltashare')
    op.execute("DROP FUNCTION deltashare.forbid_log_rewrite()")
    op.execute("DROP SCHEMA workflow_runtime")
    # `deltashare` also holds Alembic's version table, so alembic/env.py drops the schema once the
    # downgrade is recorded (drop_version_table_at_base).
