"""The vocabularies stored in status-like columns, defined once and used by models, services and the API."""

from enum import StrEnum


class SharePackStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    DECLINED = "DECLINED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    VALIDATION_FAILED = "VALIDATION_FAILED"


class RequestStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ApprovalRule(StrEnum):
    """When a tenant's packs wait for an approver before provisioning."""

    ALWAYS = "always"
    # A pack with a D2O recipient, or one that grants an existing share to a new recipient.
    EXTERNAL = "external"
    NEVER = "never"


class AuditAction(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    STATUS_CHANGED = "STATUS_CHANGED"
    PROVISIONED = "PROVISIONED"
    RECREATED = "RECREATED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    REJECTED = "REJECTED"
    # An administrator put an object made outside this service under a project's ownership.
    IMPORTED = "IMPORTED"


class NotificationType(StrEnum):
    PROVISION_SUCCESS = "PROVISION_SUCCESS"
    PROVISION_FAILURE = "PROVISION_FAILURE"
    VALIDATION_FAILURE = "VALIDATION_FAILURE"
    SYNC_FAILURE = "SYNC_FAILURE"
    PIPELINE_FAILURE = "PIPELINE_FAILURE"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    RECIPIENT_ACTIVATION = "RECIPIENT_ACTIVATION"
    TOKEN_EXPIRY = "TOKEN_EXPIRY"
    ACCESS_EXPIRY = "ACCESS_EXPIRY"


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class SyncType(StrEnum):
    NOTIFICATIONS = "NOTIFICATIONS"
    AD_USERS = "AD_USERS"
    AD_GROUPS = "AD_GROUPS"
    DATABRICKS_OBJECTS = "DATABRICKS_OBJECTS"
    JOB_METRICS = "JOB_METRICS"
    PROJECT_COSTS = "PROJECT_COSTS"
    ACCESS_EXPIRY = "ACCESS_EXPIRY"


class SyncStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The stored values of an enum, for CHECK constraints."""
    return tuple(member.value for member in enum)
