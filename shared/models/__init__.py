"""The ORM: 16 tables in schema `deltashare` plus the runtime plumbing in `workflow_runtime`."""

from shared.models.access_expiry import AccessExpiry, AccessNotice, PackCertification, ProjectRecertification
from shared.models.base import DOMAIN_SCHEMA, RUNTIME_SCHEMA, AppendOnly, Base, Versioned
from shared.models.graph import GraphDeltaLink, GraphGroupMember
from shared.models.logs import AuditEntry, JobMetric, Notification, ProjectCost, SyncJob
from shared.models.organisation import AdGroup, Project, Tenant, TenantRegion, User
from shared.models.runtime import DriftFindingRow, OutboxMessage, QueueMessageRow
from shared.models.share_packs import Request, SharePack
from shared.models.sharing import DatabricksObject, Pipeline, Recipient, Share
from shared.models.sync_runtime import (
    ActivationLinkCiphertext,
    NotificationDelivery,
    NotificationEvent,
    SyncRunRequest,
    TokenExpiryNotice,
)

DOMAIN_TABLES = frozenset(
    table.name for table in Base.metadata.sorted_tables if table.schema == DOMAIN_SCHEMA
)
APPEND_ONLY_MODELS: tuple[type[AppendOnly], ...] = (JobMetric, ProjectCost, SyncJob, Notification, AuditEntry)

__all__ = [
    "APPEND_ONLY_MODELS",
    "DOMAIN_SCHEMA",
    "DOMAIN_TABLES",
    "RUNTIME_SCHEMA",
    "AccessExpiry",
    "AccessNotice",
    "ActivationLinkCiphertext",
    "AdGroup",
    "AuditEntry",
    "Base",
    "DatabricksObject",
    "DriftFindingRow",
    "GraphDeltaLink",
    "GraphGroupMember",
    "JobMetric",
    "Notification",
    "NotificationDelivery",
    "NotificationEvent",
    "OutboxMessage",
    "PackCertification",
    "Pipeline",
    "Project",
    "ProjectCost",
    "ProjectRecertification",
    "QueueMessageRow",
    "Recipient",
    "Request",
    "Share",
    "SharePack",
    "SyncJob",
    "SyncRunRequest",
    "Tenant",
    "TenantRegion",
    "TokenExpiryNotice",
    "User",
    "Versioned",
]
