"""What exists in Databricks because of us: recipients, shares, shared objects and pipelines.

Names are unique per workspace (not globally, as in the original system) and stored lowercase, as Unity
Catalog stores them, so `Sales` and `sales` can never be two current rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Versioned, lowercase_check, one_of


class Recipient(Versioned, Base):
    """A Delta Sharing recipient: D2O (open sharing, bearer token) or D2D (another metastore)."""

    __tablename__ = "recipients"
    __business_key__ = "recipient_id"
    __current_unique__ = (("workspace_url", "recipient_name"),)
    __extra_table_args__ = (lowercase_check("recipient_name"), one_of("recipient_type", ("D2O", "D2D")))

    recipient_id: Mapped[uuid.UUID]
    share_pack_id: Mapped[uuid.UUID | None]
    # The project that owns the object: only its packs may change or delete it (None: not ours).
    project_id: Mapped[uuid.UUID | None]
    workspace_url: Mapped[str]
    recipient_name: Mapped[str]
    recipient_contact_email: Mapped[str | None]
    recipient_type: Mapped[str]
    recipient_databricks_org: Mapped[str | None]
    recipient_databricks_id: Mapped[str | None]
    description: Mapped[str | None]
    client_ip_addresses: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    token_expiry_days: Mapped[int | None]
    token_rotation: Mapped[bool] = mapped_column(server_default=text("false"))
    request_source: Mapped[str | None]


class Share(Versioned, Base):
    """A Delta Sharing share, its data objects and the recipients granted SELECT on it."""

    __tablename__ = "shares"
    __business_key__ = "share_id"
    __current_unique__ = (("workspace_url", "share_name"),)
    __extra_table_args__ = (lowercase_check("share_name"),)

    share_id: Mapped[uuid.UUID]
    share_pack_id: Mapped[uuid.UUID | None]
    # The project that owns the object: only its packs may change or delete it (None: not ours).
    project_id: Mapped[uuid.UUID | None]
    workspace_url: Mapped[str]
    share_name: Mapped[str]
    databricks_share_id: Mapped[str | None]
    description: Mapped[str | None]
    share_assets: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    recipients: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    ext_catalog_name: Mapped[str | None]
    ext_schema_name: Mapped[str | None]
    prefix_assetname: Mapped[str | None]
    share_tags: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    request_source: Mapped[str | None]


class DatabricksObject(Versioned, Base):
    """A Unity Catalog or Delta Sharing object (table, view, schema, recipient, share...) seen in a workspace.

    The Databricks sync writes one row per recipient and share; ``properties`` holds what drift is judged
    on (a recipient's IP list and token expiry, a share's objects and grantees). A recipient and a share
    may have the same name, so the type is part of the natural key.
    """

    __tablename__ = "databricks_objects"
    __business_key__ = "object_id"
    __extra_table_args__ = (
        # `__current_unique__` would name this index past PostgreSQL's 63-character limit
        Index(
            "uq_databricks_objects_current_name",
            "workspace_url",
            "object_type",
            "full_name",
            unique=True,
            postgresql_where=text("is_current AND NOT is_deleted"),
        ),
        lowercase_check("full_name"),
        one_of(
            "object_type",
            ("TABLE", "VIEW", "SCHEMA", "CATALOG", "NOTEBOOK", "VOLUME", "MODEL", "RECIPIENT", "SHARE"),
        ),
    )

    object_id: Mapped[uuid.UUID]
    workspace_url: Mapped[str]
    full_name: Mapped[str]
    object_type: Mapped[str]
    catalog_name: Mapped[str | None]
    schema_name: Mapped[str | None]
    table_name: Mapped[str | None]
    owner: Mapped[str | None]
    properties: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class Pipeline(Versioned, Base):
    """A Lakeflow pipeline that feeds a shared table, and its schedule job (declared in share packs).

    Pipeline names are unique per workspace, as in Databricks.
    """

    __tablename__ = "pipelines"
    __business_key__ = "pipeline_id"
    __current_unique__ = (("workspace_url", "pipeline_name"),)
    __extra_table_args__ = (
        one_of("scd_type", ("1", "2", "full_refresh"), nullable=True),
        one_of("schedule_type", ("CRON", "CONTINUOUS"), nullable=True),
        Index("ix_pipelines_current_share_pack_id", "share_pack_id", postgresql_where=text("is_current")),
    )

    pipeline_id: Mapped[uuid.UUID]
    share_pack_id: Mapped[uuid.UUID | None]
    share_id: Mapped[uuid.UUID | None]
    workspace_url: Mapped[str]
    pipeline_name: Mapped[str]
    databricks_pipeline_id: Mapped[str | None]
    databricks_job_id: Mapped[str | None]
    name_prefix: Mapped[str | None]
    asset_name: Mapped[str | None]
    source_table: Mapped[str | None]
    target_table: Mapped[str | None]
    scd_type: Mapped[str | None]
    key_columns: Mapped[str | None]
    schedule_type: Mapped[str | None]
    cron_expression: Mapped[str | None]
    cron_timezone: Mapped[str | None]
    notification_list: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    tags: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    serverless: Mapped[bool] = mapped_column(server_default=text("true"))
    request_source: Mapped[str | None]
