"""Who asks: tenants (business lines), their regions and workspaces, projects, and directory identities."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Versioned, one_of
from shared.platform.status import ApprovalRule, values


class Tenant(Versioned, Base):
    """A business line that owns projects and share packs."""

    __tablename__ = "tenants"
    __business_key__ = "tenant_id"
    __current_unique__ = (("business_line_name",),)
    __extra_table_args__ = (one_of("approval_required", values(ApprovalRule)),)

    tenant_id: Mapped[uuid.UUID]
    business_line_name: Mapped[str]
    short_name: Mapped[str | None]
    executive_team: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    configurator_ad_group: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    owner: Mapped[str | None]
    contact_email: Mapped[str | None]
    approval_required: Mapped[str] = mapped_column(server_default=text("'never'"))
    # E-mail domains D2O recipients may have (lowercase, no "@"); empty: any domain.
    allowed_email_domains: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    # Catalogs or catalog.schema prefixes its packs may share (`shared.access.data_scope`); empty: no limit.
    shareable_scope: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    # Global metastore ids of its own metastores: a D2D recipient elsewhere is external (approval rule).
    own_metastores: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))


class TenantRegion(Versioned, Base):
    """The workspace a tenant uses in one region; registered URLs are the workspaces we may act on."""

    __tablename__ = "tenant_regions"
    __business_key__ = "tenant_region_id"
    __current_unique__ = (("tenant_id", "region"),)
    __extra_table_args__ = (one_of("region", ("AM", "EMEA", "APAC")),)

    tenant_region_id: Mapped[uuid.UUID]
    tenant_id: Mapped[uuid.UUID]
    region: Mapped[str]
    workspace_url: Mapped[str]


class Project(Versioned, Base):
    """A tenant's project; share packs are requested for a project."""

    __tablename__ = "projects"
    __business_key__ = "project_id"
    __current_unique__ = (("tenant_id", "project_name"),)

    project_id: Mapped[uuid.UUID]
    project_name: Mapped[str]
    tenant_id: Mapped[uuid.UUID]
    approver: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    configurator: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    # Narrows the tenant's shareable scope for this project's packs; empty: the tenant's.
    shareable_scope: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))


class User(Versioned, Base):
    """A directory user (kept in step with Azure AD by the sync jobs)."""

    __tablename__ = "users"
    __business_key__ = "user_id"
    __current_unique__ = (("email",),)
    __extra_table_args__ = (
        Index("ix_users_current_ad_object_id", "ad_object_id", postgresql_where=text("is_current")),
    )

    user_id: Mapped[uuid.UUID]
    email: Mapped[str]
    display_name: Mapped[str | None]
    job_title: Mapped[str | None]
    department: Mapped[str | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    ad_object_id: Mapped[str | None]
    source: Mapped[str] = mapped_column(server_default=text("'azure_ad'"))


class AdGroup(Versioned, Base):
    """A directory group and its members (kept in step with Azure AD by the sync jobs)."""

    __tablename__ = "ad_groups"
    __business_key__ = "group_id"
    __current_unique__ = (("group_name",),)
    __extra_table_args__ = (
        Index("ix_ad_groups_current_ad_object_id", "ad_object_id", postgresql_where=text("is_current")),
    )

    group_id: Mapped[uuid.UUID]
    group_name: Mapped[str]
    ad_object_id: Mapped[str | None]
    members: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    source: Mapped[str] = mapped_column(server_default=text("'azure_ad'"))
