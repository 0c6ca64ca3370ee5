"""Which settings each process requires and which it reads, declared once, by environment-variable name.

A deployment (Terraform's container apps, docker-compose's services, the Azure guide's table) is checked
against this declaration by `tests/unit/deploy/test_settings_contract.py`, and each process checks its own
required settings at start when `deployment` is "production": a process that would run degraded (no mail
transport, no Directory, no key for activation links) stops with one line naming what is missing instead.

In development the defaults stand in (the embedded PostgreSQL, the local SMTP server on :8025), so only
the checks `Settings` and each composition root make themselves apply there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.platform.errors import ConfigurationError
from shared.platform.settings import Settings

# Databricks credentials: a personal access token, an Entra service principal, or credentials per workspace.
DATABRICKS_CREDENTIALS: tuple[frozenset[str], ...] = (
    frozenset({"DATABRICKS_TOKEN"}),
    frozenset({"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"}),
    frozenset({"WORKSPACE_CREDENTIALS"}),
)
# The workspaces a process may act on: Azure Databricks ones, or (a local run of the images against the
# emulator) loopback development workspaces.
WORKSPACES: tuple[frozenset[str], ...] = (
    frozenset({"ALLOWED_WORKSPACE_URLS"}),
    frozenset({"DEV_WORKSPACE_URLS"}),
)
# Read by the process itself rather than `Settings`: gunicorn's configuration (api/gunicorn.conf.py).
GUNICORN_VARIABLES = frozenset({"GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
                                "GUNICORN_WORKER_CONNECTIONS"})


@dataclass(frozen=True)
class Contract:
    """What one process needs: every name in `required`, one whole alternative of each `one_of` group."""

    description: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    one_of: tuple[tuple[frozenset[str], ...], ...] = ()

    @property
    def reads(self) -> frozenset[str]:
        """Every variable the process reads (required, optional, or part of an alternative)."""
        alternatives = {name for group in self.one_of for option in group for name in option}
        return self.required | self.optional | alternatives

    def missing(self, present: frozenset[str] | set[str]) -> list[str]:
        """What `present` lacks: each missing required name, then each unmet group as 'A or B and C'."""
        gaps = sorted(self.required - present)
        for group in self.one_of:
            if not any(option <= present for option in group):
                gaps.append(" or ".join(" and ".join(sorted(option)) for option in group))
        return gaps


COMMON = frozenset({
    "DEPLOYMENT", "ENABLE_WORKFLOW", "LOG_FORMAT", "LOG_LEVEL", "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "DOMAIN_DB_CONNECTION_STRING", "EMBEDDED_DATA_DIR", "ALLOWED_WORKSPACE_URLS", "DEV_WORKSPACE_URLS",
})
QUEUE = frozenset({"QUEUE_BACKEND", "AZURE_QUEUE_CONNECTION_STRING", "AZURE_QUEUE_NAME"})
DATABRICKS = frozenset({"DATABRICKS_RETRY_TIMEOUT_SECONDS", "WORKSPACE_CONCURRENCY", "TOKEN_EXPIRY_MAX_DAYS"})
GRAPH = frozenset({
    "AZURE_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET", "GRAPH_BASE_URL", "GRAPH_AUTHORITY_HOST",
    "GRAPH_VALIDATION_BUDGET_SECONDS", "ADMIN_GROUPS",
})
AUTH = frozenset({
    "AUTH_MODE", "API_KEYS", "ADMIN_PRINCIPALS", "ENTRA_TENANT_ID", "ENTRA_AUDIENCE", "ENTRA_ISSUER",
    "ENTRA_JWKS_URL", "ENTRA_JWKS_FILE", "ENTRA_REQUIRED_ROLES", "ENTRA_REQUIRED_SCOPES",
    "CONSOLE_SECRET_KEY", "CONSOLE_ENTRA_CLIENT_ID", "CONSOLE_ENTRA_CLIENT_SECRET", "CONSOLE_ENTRA_AUTHORITY",
    "CONSOLE_ENTRA_REDIRECT_URI", "PROXY_TRUSTED_HOPS", "CONSOLE_SESSION_LIFETIME_SECONDS",
    "CONSOLE_SESSION_IDLE_SECONDS", "API_KEY_REQUESTS_PER_MINUTE", "FAILED_SIGN_INS_ALLOWED",
    "SIGN_IN_LOCKOUT_SECONDS",
})
UPLOADS = frozenset({
    "MAX_UPLOAD_BYTES", "MAX_COMMENT_CHARS", "MAX_SHEET_ROWS", "MAX_SHEET_COLUMNS", "MAX_SHEET_CELLS",
    "PREFLIGHT_BUDGET_SECONDS", "OUTBOX_RELAY_INTERVAL_SECONDS",
})
WORKER_LOOP = frozenset({
    "MAX_DEQUEUE_COUNT", "VISIBILITY_TIMEOUT_SECONDS", "POLL_INTERVAL_SECONDS", "TRANSIENT_RETRY_DELAY_SECONDS",
    "TRANSIENT_RETRY_MAX_DELAY_SECONDS", "TRANSIENT_RETRY_BUDGET_SECONDS", "BUSY_RETRY_DELAY_SECONDS",
    "STUCK_PACK_AFTER_SECONDS", "STUCK_PACK_SWEEP_INTERVAL_SECONDS", "OUTBOX_RELAY_INTERVAL_SECONDS", "METRICS_PORT",
})
MAIL = frozenset({
    "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMTP_TIMEOUT_SECONDS",
    "NOTIFICATION_FROM", "NOTIFICATION_MAX_ATTEMPTS", "NOTIFICATION_RETRY_DELAY_SECONDS", "OPERATOR_EMAILS",
    "CONSOLE_BASE_URL",
})
SCHEDULES = frozenset({
    "SYNC_SCHEDULE_NOTIFICATIONS", "SYNC_SCHEDULE_AD_USERS", "SYNC_SCHEDULE_AD_GROUPS", "SYNC_SCHEDULE_JOB_METRICS",
    "SYNC_SCHEDULE_PROJECT_COSTS", "SYNC_SCHEDULE_DATABRICKS_OBJECTS", "SYNC_TICK_SECONDS", "COST_WAREHOUSE_ID",
    "COST_WORKSPACE_URL", "METRICS_PORT", "SYNC_SCHEDULE_ACCESS_EXPIRY",
})
# A production process always has its database and knows it is one; production queues on Azure Storage.
BASE_REQUIRED = frozenset({"DEPLOYMENT", "DOMAIN_DB_CONNECTION_STRING"})
QUEUE_REQUIRED = frozenset({"QUEUE_BACKEND", "AZURE_QUEUE_CONNECTION_STRING"})


def _contract(description: str, required: frozenset[str], reads: frozenset[str], *,
              one_of: tuple[tuple[frozenset[str], ...], ...] = ()) -> Contract:
    alternatives = {name for group in one_of for option in group for name in option}
    return Contract(description, required, optional=reads - required - alternatives, one_of=one_of)


PROCESS_SETTINGS: dict[str, Contract] = {
    # Pre-flight, the dry-run plan and the rollback preview read the workspace; rotate-token mails a new
    # activation link (encrypted at rest); every upload names an allowed workspace.
    "api": _contract(
        "the API",
        BASE_REQUIRED | QUEUE_REQUIRED
        | {"API_KEYS", "CONSOLE_SECRET_KEY", "ACTIVATION_LINK_KEYS"},
        COMMON | QUEUE | DATABRICKS | GRAPH | AUTH | UPLOADS | GUNICORN_VARIABLES | {"ACTIVATION_LINK_KEYS"},
        one_of=(DATABRICKS_CREDENTIALS, WORKSPACES),
    ),
    # Provisioning needs Databricks; a new D2O recipient's activation link is stored encrypted.
    "worker": _contract(
        "the worker",
        BASE_REQUIRED | QUEUE_REQUIRED | {"ACTIVATION_LINK_KEYS"},
        COMMON | QUEUE | DATABRICKS | WORKER_LOOP | {"ACTIVATION_LINK_KEYS"},
        one_of=(DATABRICKS_CREDENTIALS, WORKSPACES),
    ),
    # Mail goes through a real relay (the default is a local test server), activation links are decrypted
    # to be mailed, AD sync reads the Directory, and failures are mailed to the operators.
    "sync": _contract(
        "the sync service",
        BASE_REQUIRED | {"SMTP_HOST", "SMTP_PORT", "NOTIFICATION_FROM", "OPERATOR_EMAILS", "ACTIVATION_LINK_KEYS",
                         "AZURE_TENANT_ID", "GRAPH_CLIENT_ID", "CONSOLE_BASE_URL"},
        COMMON | DATABRICKS | GRAPH | MAIL | SCHEDULES | {"ACTIVATION_LINK_KEYS"},
        one_of=(DATABRICKS_CREDENTIALS, WORKSPACES),
    ),
    # `alembic upgrade head` reads only where the database is.
    "migrate": _contract("the migration", BASE_REQUIRED, frozenset({"DOMAIN_DB_CONNECTION_STRING", "DEPLOYMENT",
                                                                    "LOG_FORMAT", "LOG_LEVEL"})),
}


def present_settings(env: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env") -> dict[str, str]:
    """The non-empty settings a process sees, by upper-case name (the environment over `.env`, as Settings)."""
    raw = Settings.raw_environment(env, dotenv_path=dotenv_path)
    return {name.upper(): value for name, value in raw.items() if value.strip()}


def require_settings(process: str, env: Mapping[str, str] | None = None, *,
                     dotenv_path: str | None = ".env") -> None:
    """Refuse to start a production `process` that lacks a setting its contract requires.

    Raises:
        ConfigurationError: naming every missing variable (development deployments are not checked).
    """
    settings = present_settings(env, dotenv_path=dotenv_path)
    if settings.get("DEPLOYMENT", "development").strip().lower() != "production":
        return
    contract = PROCESS_SETTINGS[process]
    missing = contract.missing(frozenset(settings))
    if missing:
        raise ConfigurationError(
            f"Missing setting {', '.join(missing)}: {contract.description} requires "
            f"{'them' if len(missing) > 1 else 'it'} when deployment is "
            "'production' (shared/platform/settings_contract.py lists what each process needs)"
        )
