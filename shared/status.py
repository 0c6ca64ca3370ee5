"""The vocabularies stored in status-like columns, defined once and used by models, services and the API."""

from enum import StrEnum


class SharePackStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    VALIDATION_FAILED = "VALIDATION_FAILED"


class RequestStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


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


class NotificationType(StrEnum):
    PROVISION_SUCCESS = "PROVISION_SUCCESS"
    PROVISION_FAILURE = "PROVISION_FAILURE"
    VALIDATION_FAILURE = "VALIDATION_FAILURE"
    SYNC_FAILURE = "SYNC_FAILURE"
    PIPELINE_FAILURE = "PIPELINE_FAILURE"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    RECIPIENT_ACTIVATION = "RECIPIENT_ACTIVATION"
    TOKEN_EXPIRY = "TOKEN_EXPIRY"


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


class SyncStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The stored values of an enum, for CHECK constraints."""
    return tuple(member.value for member in enum)
