"""Settings: one frozen object built from the environment (and an optional `.env`), read once per process.

Names are the ones users of the original system already have (`enable_workflow`,
`domain_db_connection_string`, `azure_queue_connection_string`, `azure_queue_name`) and are matched
case-insensitively, so `DOMAIN_DB_CONNECTION_STRING` and `domain_db_connection_string` mean the same.
A wrong value raises `ConfigurationError` naming the setting; entry points print that one line and exit.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from croniter import croniter
from dotenv import dotenv_values

from shared.platform import api_keys
from shared.platform.credentials import DatabricksCredentials
from shared.platform.errors import ConfigurationError

AZURE_WORKSPACE_URL = re.compile(r"^https://adb-\d+\.\d+\.azuredatabricks\.net$")
LOOPBACK_URL = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$")

N = TypeVar("N", int, float)


def normalize_workspace_url(url: str) -> str:
    """Return a workspace URL in the one spelling we compare and store: scheme (https if none),
    lowercase, no trailing slash."""
    url = url.strip().rstrip("/").lower()
    return url if "://" in url else f"https://{url}"


@dataclass(frozen=True)
class ApiKey:
    """An accepted API key: who it identifies and the salted hash of its secret (`shared.platform.api_keys`)."""

    name: str
    key_hash: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything a process of this service can be configured with."""

    # False switches the service off: every /workflow and /console path answers 404 (the seed's switch).
    enable_workflow: bool = True
    # None means: start the embedded PostgreSQL (local development only).
    # Secrets (passwords, account keys, key hashes, tokens) are kept out of repr(): a settings object in a
    # log line or a traceback must not print them.
    domain_db_connection_string: str | None = field(default=None, repr=False)
    # Where provisioning messages wait: "azure" (Azure Storage Queue, production) or "postgres" (one
    # table, for local development and tests).
    queue_backend: str = "postgres"
    # The Azure Storage Queue account's connection string (Azurite's for local runs).
    azure_queue_connection_string: str | None = field(default=None, repr=False)
    # The provisioning queue's name; the poison queue is this name with "-poison".
    azure_queue_name: str = "sharepack-processing"
    # Azure Databricks workspaces this deployment may act on (tenant regions add more).
    allowed_workspace_urls: tuple[str, ...] = ()
    # Workspaces on loopback addresses, for development and tests (the emulator); nothing else is accepted.
    dev_workspace_urls: tuple[str, ...] = ()
    # How API callers authenticate: "api_key" (an API key as the bearer token) or "entra" (Entra ID tokens).
    auth_mode: str = "api_key"
    # API keys as name=key pairs, comma separated; the name is the caller's identity.
    api_keys: tuple[ApiKey, ...] = field(default=(), repr=False)
    # Rate limits, counted per API process (shared/platform/rate_limit.py): requests per API key per minute, and failed
    # sign-ins (API key or console) per client address before that address is locked out for a while.
    api_key_requests_per_minute: int = 1200
    # Failed sign-ins from one client address before it is locked out.
    failed_sign_ins_allowed: int = 10
    # How long a locked-out address is refused.
    sign_in_lockout_seconds: int = 300
    # Entra ID bearer tokens: the tenant, the audience (the API's app id URI), the issuer and where the
    # signing keys are (JWKS URL, or a file for tests).
    entra_tenant_id: str | None = None
    entra_audience: str | None = None
    entra_issuer: str | None = None
    entra_jwks_url: str | None = None
    entra_jwks_file: str | None = None
    # An Entra token must carry one of these app roles or delegated scopes (any role or scope when both empty).
    entra_required_roles: tuple[str, ...] = ()
    entra_required_scopes: tuple[str, ...] = ()
    # Platform administrators: API key names, or Entra `tid/oid` (an Entra app role ShareAdmin counts too).
    admin_principals: frozenset[str] = frozenset()
    # The largest share pack file accepted (413 above it).
    max_upload_bytes: int = 10 * 1024 * 1024
    # Share pack file bounds (see shared.share_pack_file.limits.FormatLimits for why each exists).
    max_comment_chars: int = 4096
    max_sheet_rows: int = 100_000
    max_sheet_columns: int = 100
    max_sheet_cells: int = 1_000_000
    # Signs the web console's session cookies; every API process must share it. None: a random key per
    # process (one process only, e.g. tests; sessions end when it restarts), refused in production.
    console_secret_key: str | None = field(default=None, repr=False)
    # "production" (the images, compose and Azure set it) or "development": production refuses defaults
    # that only suit one local process, such as a missing console_secret_key.
    deployment: str = "development"
    # Reverse proxies in front of the API whose X-Forwarded-For/-Proto are believed (werkzeug's ProxyFix).
    # None: 1 in production (the Container Apps ingress), 0 in development. Set 0 where clients reach the
    # API directly: a client could otherwise claim any address or scheme.
    proxy_trusted_hops: int | None = None
    # A console session ends this long after sign-in, or after this long without a request, whichever first.
    console_session_lifetime_seconds: int = 12 * 3600
    console_session_idle_seconds: int = 30 * 60
    # The console's own app registration for "Sign in with Microsoft" (authorization code + PKCE). Unset
    # client id: the sign-in page offers the API-key form only. The authority is Entra's host (or the Graph
    # emulator's) followed by the tenant id; the redirect URI is registered on the app as a Web platform URI.
    console_entra_client_id: str | None = None
    console_entra_client_secret: str | None = field(default=None, repr=False)
    console_entra_authority: str | None = None
    console_entra_redirect_uri: str | None = None
    # Where people open the console (e.g. https://sharepack.example.com): mails link to a pack's page under
    # it. None: mails carry the pack's id but no link.
    console_base_url: str | None = None
    # "json" (one object per line, for containers) or "console" (for a terminal); and the level.
    log_format: str = "console"
    log_level: str = "INFO"
    # None when the process talks to no workspace (the API); the worker then refuses to provision.
    # (DatabricksCredentials keeps its own token and client secret out of repr.)
    databricks_credentials: DatabricksCredentials | None = None
    # Credentials per workspace (JSON: url -> {token} or {azure_client_id, ...}); others use the default ones.
    workspace_credentials: Mapping[str, DatabricksCredentials] = field(default_factory=dict)
    # How long the Databricks SDK retries one call (429 and 5xx) before the job's own back-off takes over.
    databricks_retry_timeout_seconds: int = 120
    # Calls one worker makes to one workspace at the same time, across the packs it runs.
    workspace_concurrency: int = 8
    # Deliveries of a message that crashed its job before it is set aside as poison (crashes only).
    max_dequeue_count: int = 5
    # How long a received message stays hidden; the worker extends it while the job runs.
    visibility_timeout_seconds: int = 120
    # How long an idle worker waits before asking the queue again.
    poll_interval_seconds: float = 1.0
    # Transient failures (throttling, 5xx, an unreachable workspace or database) are waited out with
    # exponential backoff and jitter: the first retry waits about `transient_retry_delay_seconds`, each
    # next one twice as long, never more than `transient_retry_max_delay_seconds`. A pack gives up only
    # when its transient failures span `transient_retry_budget_seconds` (a day by default: an outage is
    # waited out). Crashes have their own, small budget: `max_dequeue_count`.
    transient_retry_delay_seconds: int = 30
    transient_retry_max_delay_seconds: int = 900
    transient_retry_budget_seconds: int = 86_400
    # A message whose pack another worker is provisioning comes back after about this long.
    busy_retry_delay_seconds: int = 60
    # The stuck-pack sweeper: every `stuck_pack_sweep_interval_seconds`, packs IN_PROGRESS that nobody
    # holds and that have not changed for `stuck_pack_after_seconds` are queued again.
    stuck_pack_after_seconds: int = 3600
    stuck_pack_sweep_interval_seconds: float = 300.0
    # How often the outbox relay sends messages whose publish after commit did not go through.
    outbox_relay_interval_seconds: float = 5.0
    # The upload route checks a pack against its workspace for at most this long; a workspace not read
    # in time skips the check with a warning (the worker's plan is the final word).
    preflight_budget_seconds: float = 3.0
    # Where `make run` keeps the embedded PostgreSQL's data (no domain_db_connection_string set).
    embedded_data_dir: str = ".local/postgres"
    # The worker and the sync service serve Prometheus metrics on this port (None: not served).
    metrics_port: int | None = None
    # Traces go to Azure Monitor (Application Insights) when set; otherwise they are made but not exported.
    applicationinsights_connection_string: str | None = field(default=None, repr=False)
    # The sync service (`python -m sync`): mail transport, delivery policy and job schedules.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 30.0
    # The sender of notification mail; a failed delivery is tried again this many times, this far apart.
    notification_from: str = "sharepack-workflow@localhost"
    notification_max_attempts: int = 5
    notification_retry_delay_seconds: int = 60
    # Who is mailed when a sync job fails.
    operator_emails: tuple[str, ...] = ()
    # Fernet keys (newest first) for activation links at rest; MultiFernet decrypts with any, encrypts with the first.
    activation_link_keys: tuple[str, ...] = ()
    # Sync jobs run on cron schedules (UTC): notifications every minute.
    sync_schedule_notifications: str = "*/1 * * * *"
    # Users first, groups a few minutes later (a group's members are the synced users that are active).
    sync_schedule_ad_users: str = "0 * * * *"
    sync_schedule_ad_groups: str = "5 * * * *"
    sync_schedule_job_metrics: str = "*/15 * * * *"
    # Billing rows arrive within hours: once a day is enough.
    sync_schedule_project_costs: str = "0 6 * * *"
    # The SQL warehouse (and its workspace; default: the first known one) that reads system.billing.
    cost_warehouse_id: str | None = None
    cost_workspace_url: str | None = None
    # Reading every workspace back (recipients, shares, grants) and detecting drift.
    sync_schedule_databricks_objects: str = "*/15 * * * *"
    # Reminding before time-boxed access or a recertification lapses (14, 3, 1 days), revoking it when it does.
    sync_schedule_access_expiry: str = "7 * * * *"
    sync_tick_seconds: float = 1.0
    # The longest D2O token lifetime (token_expiry_days) a pack may ask for; above it the pack is refused.
    token_expiry_max_days: int = 365
    # Azure AD through Microsoft Graph (AD sync and upload validation). No graph_client_id: Graph is not
    # configured, and the validator skips its checks with a warning. No secret: a managed identity.
    azure_tenant_id: str | None = None
    # The app registration that reads Microsoft Graph (its secret; none: a managed identity), Graph's address,
    # the Entra authority host, and how long an upload's directory check may take before it is skipped.
    graph_client_id: str | None = None
    graph_client_secret: str | None = field(default=None, repr=False)
    graph_base_url: str = "https://graph.microsoft.com"
    graph_authority_host: str = "https://login.microsoftonline.com"
    graph_validation_budget_seconds: float = 2.0
    # Directory groups whose members administer the platform; the AD sync keeps them with the tenants' groups.
    admin_groups: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env") -> Settings:
        """Build settings from `env` (default: os.environ) over an optional `.env` file."""
        return cls._from_raw(cls.raw_environment(env, dotenv_path=dotenv_path))

    @staticmethod
    def raw_environment(env: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env") -> dict[str, str]:
        """The unparsed settings by lower-case name: `env` (default: os.environ) over an optional `.env`."""
        raw: dict[str, str] = {}
        if dotenv_path and Path(dotenv_path).is_file():
            raw.update({k.lower(): v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        raw.update({k.lower(): v for k, v in (os.environ if env is None else env).items()})
        return raw

    @classmethod
    def _from_raw(cls, raw: Mapping[str, str]) -> Settings:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name in known:
            if name in raw and raw[name].strip() != "":
                values[name] = raw[name].strip()

        parsed: dict[str, Any] = {}
        for name, value in values.items():
            parser = _PARSERS.get(name, _as_str)
            try:
                parsed[name] = parser(value)
            except ValueError as exc:
                raise ConfigurationError(f"Invalid setting {name}: {exc}") from None

        credentials = {
            "token": raw.get("databricks_token") or None,
            "azure_client_id": raw.get("azure_client_id") or None,
            "azure_client_secret": raw.get("azure_client_secret") or None,
            "azure_tenant_id": raw.get("azure_tenant_id") or None,
        }
        # The tenant id alone configures Graph, not Databricks credentials.
        if credentials["token"] or credentials["azure_client_id"] or credentials["azure_client_secret"]:
            try:
                parsed["databricks_credentials"] = DatabricksCredentials(**credentials)
            except ConfigurationError as exc:
                raise ConfigurationError(f"Invalid setting databricks_token/azure_client_*: {exc}") from None
        if "queue_backend" not in parsed:
            parsed["queue_backend"] = "azure" if parsed.get("azure_queue_connection_string") else "postgres"
        settings = cls(**parsed)
        settings._check()
        return settings

    def _check(self) -> None:
        if self.queue_backend not in ("azure", "postgres"):
            raise ConfigurationError("Invalid setting queue_backend: expected 'azure' or 'postgres'")
        if self.queue_backend == "azure" and not self.azure_queue_connection_string:
            raise ConfigurationError(
                "Missing setting azure_queue_connection_string: required when queue_backend is 'azure'"
            )
        if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,54}[a-z0-9]", self.azure_queue_name):
            raise ConfigurationError(
                "Invalid setting azure_queue_name: 3-56 lowercase letters, digits and single hyphens (room for -poison)"
            )
        if self.auth_mode not in ("api_key", "entra"):
            raise ConfigurationError("Invalid setting auth_mode: expected 'api_key' or 'entra'")
        if self.auth_mode == "entra" and not (
            self.entra_tenant_id and self.entra_audience and (self.entra_jwks_url or self.entra_jwks_file)
        ):
            raise ConfigurationError(
                "Missing setting entra_tenant_id/entra_audience/entra_jwks_url: required when auth_mode is 'entra'"
            )
        if self.deployment not in ("development", "production"):
            raise ConfigurationError("Invalid setting deployment: expected 'development' or 'production'")
        if self.console_entra_client_id and not (
            self.console_entra_client_secret and self.console_entra_authority and self.console_entra_redirect_uri
        ):
            raise ConfigurationError(
                "Missing setting console_entra_client_secret/console_entra_authority/console_entra_redirect_uri: "
                "required when console_entra_client_id is set"
            )
        if self.console_entra_authority:
            _check_console_authority(self.console_entra_authority)
        if self.log_format not in ("json", "console"):
            raise ConfigurationError("Invalid setting log_format: expected 'json' or 'console'")
        if self.transient_retry_max_delay_seconds < self.transient_retry_delay_seconds:
            raise ConfigurationError(
                "Invalid setting transient_retry_max_delay_seconds: must be at least transient_retry_delay_seconds"
            )
        # A pack waiting for its next attempt is unchanged for up to the longest back-off (or busy delay)
        # plus a visibility timeout; the sweeper must not mistake that wait for a lost message.
        longest_quiet = max(self.transient_retry_max_delay_seconds, self.busy_retry_delay_seconds)
        if self.stuck_pack_after_seconds <= longest_quiet + self.visibility_timeout_seconds:
            raise ConfigurationError(
                "Invalid setting stuck_pack_after_seconds: must exceed the longest retry delay "
                f"plus visibility_timeout_seconds ({longest_quiet + self.visibility_timeout_seconds} s)"
            )

    @property
    def trusted_proxy_hops(self) -> int:
        """How many proxy hops to trust: the setting, or 1 in production (its TLS ingress) and 0 elsewhere."""
        if self.proxy_trusted_hops is not None:
            return self.proxy_trusted_hops
        return 1 if self.deployment == "production" else 0

    @property
    def graph_configured(self) -> bool:
        """Whether Azure AD can be asked through Graph (a tenant and an app registration are set)."""
        return bool(self.azure_tenant_id and self.graph_client_id)

    @property
    def console_entra_configured(self) -> bool:
        """Whether the console offers "Sign in with Microsoft"."""
        return bool(self.console_entra_client_id)

    @property
    def known_workspace_urls(self) -> frozenset[str]:
        """Workspace URLs this deployment may act on (tenant regions in the database add more)."""
        return frozenset(self.allowed_workspace_urls) | frozenset(self.dev_workspace_urls)


def _check_console_authority(authority: str) -> None:
    """One tenant (`common` would admit any tenant's users), and https except on loopback (a secret goes there)."""
    parts = urlparse(authority)
    tenant = parts.path.strip("/").split("/")[-1] if parts.path.strip("/") else ""
    if not tenant or tenant.lower() in ("common", "organizations", "consumers"):
        raise ConfigurationError(
            "Invalid setting console_entra_authority: expected https://login.microsoftonline.com/<tenant id>"
        )
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigurationError("Invalid setting console_entra_authority: https is required off loopback")


def _as_str(value: str) -> str:
    return value


def _as_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _number_parser(convert: Callable[[str], N], expected: str, *, zero_allowed: bool = False) -> Callable[[str], N]:
    """A parser of numbers above 0 (or, with ``zero_allowed``, of 0 and more) whose errors say what it expected."""

    def parse(value: str) -> N:
        try:
            number = convert(value)
        except ValueError:
            raise ValueError(f"expected {expected}, got {value!r}") from None
        if number < 0 or (number == 0 and not zero_allowed):
            raise ValueError(f"expected a number {'of 0 or more' if zero_allowed else 'above 0'}, got {number}")
        return number

    return parse


_as_positive_int = _number_parser(int, "a whole number")
_as_positive_float = _number_parser(float, "a number")
_as_non_negative_int = _number_parser(int, "a whole number", zero_allowed=True)


def _as_port(value: str) -> int:
    number = _as_positive_int(value)
    if number > 65535:
        raise ValueError(f"expected a TCP port (1-65535), got {number}")
    return number


def _as_emails(value: str) -> tuple[str, ...]:
    emails = tuple(e for e in re.split(r"[,\s]+", value) if e)
    for email in emails:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            raise ValueError(f"{email!r} is not an e-mail address")
    return emails


def _as_fernet_keys(value: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each, `Fernet.generate_key()`), newest first."""
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    for key in keys:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            raise ValueError("each key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())") from None
    return keys


def _as_schedule(value: str) -> str:
    """An interval in seconds (`30`, `30s`) or a five-field cron expression (`*/1 * * * *`)."""
    if re.fullmatch(r"\d+(\.\d+)?s?", value):
        if float(value.rstrip("s")) <= 0:
            raise ValueError("an interval must be above 0 seconds")
        return value
    if not croniter.is_valid(value) or len(value.split()) != 5:
        raise ValueError(f"{value!r} is neither an interval in seconds nor a five-field cron expression")
    return value


def _as_lower(value: str) -> str:
    return value.lower()


def _as_connection_string(value: str) -> str:
    if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise ValueError("expected a PostgreSQL URL (postgresql://user:password@host:5432/db)")
    return value


def _url_list_parser(pattern: re.Pattern[str], problem: str) -> Callable[[str], tuple[str, ...]]:
    """A parser of comma- or space-separated workspace URLs, each of which must match ``pattern``."""

    def parse(value: str) -> tuple[str, ...]:
        urls = tuple(normalize_workspace_url(u) for u in re.split(r"[,\s]+", value) if u.strip())
        for url in urls:
            if not pattern.match(url):
                raise ValueError(f"{url!r} {problem}")
        return urls

    return parse


_as_azure_workspace_urls = _url_list_parser(
    AZURE_WORKSPACE_URL, "is not an Azure Databricks URL (https://adb-<id>.<n>.azuredatabricks.net)"
)
_as_loopback_urls = _url_list_parser(LOOPBACK_URL, "is not a loopback URL; development workspaces must be local")


def _as_api_keys(value: str) -> tuple[ApiKey, ...]:
    """Parse `name=secret` or `name=scrypt:<salt>:<digest>` entries (a bare secret gets a name from its hash).

    A secret given as is is hashed here with a salt of its own and forgotten; the stored form
    (`python -m shared.platform.api_keys`) keeps even the settings free of it."""
    keys = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        name, sep, secret = entry.partition("=")
        if not sep:
            name, secret = "", entry
        if secret.startswith("sha256:"):
            raise ValueError("an unsalted sha256: key hash is no longer accepted; store the key's salted form "
                             "(python -m shared.platform.api_keys prints it)")
        if secret.startswith(f"{api_keys.SCHEME}:"):
            if not api_keys.STORED_FORM.fullmatch(secret):
                raise ValueError("a hashed key must be scrypt:<32 hex digits of salt>:<64 hex digits>")
            key_hash = secret
        else:
            if len(secret) < api_keys.MIN_KEY_CHARS:
                raise ValueError(f"an API key must be at least {api_keys.MIN_KEY_CHARS} characters")
            key_hash = api_keys.hash_api_key(secret)
        keys.append(ApiKey(name=name.strip() or f"api-key-{key_hash[-8:]}", key_hash=key_hash))
    return tuple(keys)


def _as_workspace_credentials(value: str) -> dict[str, DatabricksCredentials]:
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError('expected JSON: {"<workspace url>": {"token": ...}}') from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object keyed by workspace URL")
    allowed = {"token", "azure_client_id", "azure_client_secret", "azure_tenant_id"}
    result = {}
    for url, creds in data.items():
        if not isinstance(creds, dict) or not set(creds) <= allowed:
            raise ValueError(f"credentials for {url!r} must be an object with keys from {sorted(allowed)}")
        try:
            result[normalize_workspace_url(url)] = DatabricksCredentials(**creds)
        except ConfigurationError as exc:
            raise ValueError(f"credentials for {url!r}: {exc}") from None
    return result


def _as_names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def _as_lower_names(value: str) -> frozenset[str]:
    return frozenset(n.lower() for n in _as_names(value))


_PARSERS = {
    "enable_workflow": _as_bool,
    "domain_db_connection_string": _as_connection_string,
    "queue_backend": _as_lower,
    "auth_mode": _as_lower,
    "log_format": _as_lower,
    "log_level": str.upper,
    "allowed_workspace_urls": _as_azure_workspace_urls,
    "dev_workspace_urls": _as_loopback_urls,
    "api_keys": _as_api_keys,
    "entra_required_roles": _as_names,
    "entra_required_scopes": _as_names,
    "admin_principals": _as_lower_names,
    "workspace_credentials": _as_workspace_credentials,
    "proxy_trusted_hops": _as_non_negative_int,
    "console_session_lifetime_seconds": _as_positive_int,
    "console_session_idle_seconds": _as_positive_int,
    "max_upload_bytes": _as_positive_int,
    "metrics_port": _as_positive_int,
    "api_key_requests_per_minute": _as_positive_int,
    "failed_sign_ins_allowed": _as_positive_int,
    "sign_in_lockout_seconds": _as_positive_int,
    "max_comment_chars": _as_positive_int,
    "max_sheet_rows": _as_positive_int,
    "max_sheet_columns": _as_positive_int,
    "max_sheet_cells": _as_positive_int,
    "databricks_retry_timeout_seconds": _as_positive_int,
    "workspace_concurrency": _as_positive_int,
    "max_dequeue_count": _as_positive_int,
    "visibility_timeout_seconds": _as_positive_int,
    "poll_interval_seconds": _as_positive_float,
    "transient_retry_delay_seconds": _as_positive_int,
    "transient_retry_max_delay_seconds": _as_positive_int,
    "transient_retry_budget_seconds": _as_positive_int,
    "busy_retry_delay_seconds": _as_positive_int,
    "stuck_pack_after_seconds": _as_positive_int,
    "stuck_pack_sweep_interval_seconds": _as_positive_float,
    "outbox_relay_interval_seconds": _as_positive_float,
    "preflight_budget_seconds": _as_positive_float,
    "smtp_port": _as_port,
    "smtp_starttls": _as_bool,
    "smtp_timeout_seconds": _as_positive_float,
    "notification_max_attempts": _as_positive_int,
    "notification_retry_delay_seconds": _as_non_negative_int,
    "operator_emails": _as_emails,
    "activation_link_keys": _as_fernet_keys,
    "sync_schedule_notifications": _as_schedule,
    "sync_schedule_ad_users": _as_schedule,
    "sync_schedule_ad_groups": _as_schedule,
    "sync_schedule_job_metrics": _as_schedule,
    "sync_schedule_project_costs": _as_schedule,
    "cost_workspace_url": normalize_workspace_url,
    "sync_schedule_databricks_objects": _as_schedule,
    "sync_schedule_access_expiry": _as_schedule,
    "sync_tick_seconds": _as_positive_float,
    "token_expiry_max_days": _as_positive_int,
    "graph_validation_budget_seconds": _as_positive_float,
    "graph_base_url": lambda value: value.strip().rstrip("/"),
    "console_base_url": lambda value: value.strip().rstrip("/"),
    "graph_authority_host": lambda value: value.strip().rstrip("/"),
    "console_entra_authority": lambda value: value.strip().rstrip("/"),
    "admin_groups": lambda value: tuple(g.strip() for g in value.split(",") if g.strip()),
}
