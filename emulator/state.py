"""The emulated workspace: its metastore, tables, recipients, shares and grants, and the rules on them.

Everything Unity Catalog enforces that our worker depends on lives here (reference §6), independent of
HTTP: names are case-insensitive and stored lowercase, shared tables must exist and be readable by the
share owner, a share update carries at most 100 changes and is applied all-or-nothing, a TOKEN recipient
has at most two active tokens and each activation link works once. The HTTP layer only translates.

One re-entrant lock guards the model; it is held for the (short) duration of an operation, never while
the server sleeps to emulate latency, so concurrent calls still overlap.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import ipaddress
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from emulator.errors import (
    ApiError,
    ErrorCodeStyle,
    already_exists,
    does_not_exist,
    invalid_parameter,
    permission_denied,
)
from emulator.journal import Change, StateStore

MAX_SHARE_UPDATES = 100
MAX_IP_ACCESS_LIST_ENTRIES = 100
MAX_NAME_LENGTH = 255
MAX_ACTIVE_TOKENS = 2
DEFAULT_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600
STATE_FORMAT_VERSION = 1

AUTHENTICATION_TYPES = frozenset({"TOKEN", "DATABRICKS", "OIDC_FEDERATION", "OAUTH_CLIENT_CREDENTIALS"})
SHARE_PRIVILEGES = frozenset({"SELECT"})
TABLE_TYPES = frozenset(
    {"MANAGED", "EXTERNAL", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "FOREIGN", "METRIC_VIEW"}
)
DATA_OBJECT_TYPES = frozenset(
    {
        "TABLE",
        "FOREIGN_TABLE",
        "SCHEMA",
        "VIEW",
        "MATERIALIZED_VIEW",
        "STREAMING_TABLE",
        "MODEL",
        "NOTEBOOK_FILE",
        "FUNCTION",
        "FEATURE_SPEC",
        "VOLUME",
    }
)
# Which catalog table types each table-like data object type may point at.
TABLE_LIKE_OBJECTS: Mapping[str, frozenset[str]] = {
    "TABLE": frozenset({"MANAGED", "EXTERNAL"}),
    "FOREIGN_TABLE": frozenset({"FOREIGN"}),
    "VIEW": frozenset({"VIEW", "METRIC_VIEW"}),
    "MATERIALIZED_VIEW": frozenset({"MATERIALIZED_VIEW"}),
    "STREAMING_TABLE": frozenset({"STREAMING_TABLE"}),
}
# Fields of a shared data object that an UPDATE action may change (the others identify the object).
UPDATABLE_OBJECT_FIELDS = (
    "comment",
    "cdf_enabled",
    "history_data_sharing_status",
    "partitions",
    "start_version",
)
HIVE_METASTORE = "hive_metastore"
# DeltaSharingScopeEnum of the SDK; only the latter lets a provider share outside its account.
DELTA_SHARING_SCOPES = frozenset({"INTERNAL", "INTERNAL_AND_EXTERNAL"})
# Open sharing (a credential handed to a non-Databricks client) is external sharing by definition.
OPEN_SHARING_AUTHENTICATION_TYPES = frozenset({"TOKEN", "OIDC_FEDERATION", "OAUTH_CLIENT_CREDENTIALS"})
# What ``metastores.update`` may change here (the SDK's UpdateMetastore fields the emulator models).
UPDATABLE_METASTORE_FIELDS = (
    "delta_sharing_scope",
    "delta_sharing_organization_name",
    "delta_sharing_recipient_token_lifetime_in_seconds",
    "external_access_enabled",
    "owner",
)

_INVALID_NAME_CHARS = re.compile(r"[.\s/\x00-\x1f\x7f]")
_SHARED_AS = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
_SHARING_IDENTIFIER = re.compile(
    r"^(?P<cloud>aws|azure|gcp):(?P<region>[a-z0-9-]+):"
    r"(?P<metastore_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)

T = TypeVar("T")


def now_ms() -> int:
    """Return the current time in epoch milliseconds, Unity Catalog's timestamp unit."""
    return int(time.time() * 1000)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the mapping without ``None`` values: the API omits unset fields rather than sending null."""
    return {key: value for key, value in values.items() if value is not None}


def validate_securable_name(name: Any, *, operation: str) -> str:
    """Return the lowercase form of a recipient or share name, or raise 400 for an unusable one."""
    if name is None or name == "":
        raise invalid_parameter(f"{operation} Missing required field: name")
    if not isinstance(name, str):
        raise invalid_parameter(f"{name!r} is not a valid name")
    if len(name) > MAX_NAME_LENGTH or _INVALID_NAME_CHARS.search(name):
        raise invalid_parameter(f"{name} is not a valid name")
    return name.lower()


def paginate(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    max_results: int | None,
    page_token: str | None,
    settings: WorkspaceSettings,
) -> tuple[list[T], str | None]:
    """Return one page of ``items`` (sorted by ``key``) and the token of the next page, if any.

    As documented for the Unity Catalog list calls (e.g.
    https://docs.databricks.com/api/workspace/recipients/list): ``max_results`` > 0 is the page size,
    0 means "the server's page size" (``settings.page_size``; ``None``: everything), absent means
    everything at once, and < 0 is INVALID_PARAMETER_VALUE. Only an absent ``next_page_token`` ends a
    list; a page may be short or even empty and still carry one (``settings.empty_first_page`` serves
    such a page first, so clients are tested against it).

    The token names the last item returned rather than an offset, so creating or deleting objects
    between two pages neither repeats nor skips the others (what a real keyset-paginated API does).
    """
    if max_results is not None and max_results < 0:
        raise invalid_parameter(f"max_results must be non-negative, got {max_results}")
    page_size = settings.page_size if max_results == 0 else max_results
    if page_token:
        after = _decode_page_token(page_token)
    elif settings.empty_first_page and page_size is not None:
        return [], _page_token("")
    else:
        after = None
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    if page_size is None or len(ordered) <= page_size:
        return ordered, None
    page = ordered[:page_size]
    return page, _page_token(key(page[-1]))


def _page_token(after: str) -> str:
    """Return an opaque token for "the items after ``after``" (``""``: from the start)."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _decode_page_token(token: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise invalid_parameter(f"Invalid page_token: {token}") from exc
    if not isinstance(after, str):
        raise invalid_parameter(f"Invalid page_token: {token}")
    return after


@dataclass
class Metastore:
    """The metastore the workspace is assigned to; its global id is the workspace's sharing identifier."""

    metastore_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = "emulator-metastore"
    cloud: str = "azure"
    region: str = "westeurope"
    owner: str = "metastore-admins"
    workspace_id: int = 1234567890123456
    default_catalog_name: str = "main"
    delta_sharing_scope: str = "INTERNAL_AND_EXTERNAL"
    delta_sharing_organization_name: str = "Emulated Provider"
    delta_sharing_recipient_token_lifetime_in_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    external_access_enabled: bool = False
    created_at: int = field(default_factory=now_ms)
    updated_at: int | None = None
    updated_by: str | None = None

    @property
    def global_metastore_id(self) -> str:
        """Return the sharing identifier ``cloud:region:uuid`` a D2D provider needs from us."""
        return f"{self.cloud}:{self.region}:{self.metastore_id}"

    def summary(self) -> dict[str, Any]:
        """Return the ``metastore_summary`` payload (the fields of the SDK's ``GetMetastoreSummaryResponse``)."""
        return {
            "metastore_id": self.metastore_id,
            "name": self.name,
            "global_metastore_id": self.global_metastore_id,
            "cloud": self.cloud,
            "region": self.region,
            "owner": self.owner,
            "delta_sharing_scope": self.delta_sharing_scope,
            "delta_sharing_organization_name": self.delta_sharing_organization_name,
            "delta_sharing_recipient_token_lifetime_in_seconds": (
                self.delta_sharing_recipient_token_lifetime_in_seconds
            ),
            "external_access_enabled": self.external_access_enabled,
            "privilege_model_version": "1.0",
            "storage_root": f"abfss://metastore@emulator.dfs.core.windows.net/{self.metastore_id}",
            "created_at": self.created_at,
            "created_by": self.owner,
            "updated_at": self.updated_at or self.created_at,
            "updated_by": self.updated_by or self.owner,
        }


@dataclass
class Table:
    """A catalog table; ``owner_lacks_select`` makes adding it to a share fail with 403."""

    full_name: str
    table_type: str = "MANAGED"
    data_source_format: str | None = "DELTA"
    owner: str = "data-owners"
    owner_lacks_select: bool = False
    table_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: int = field(default_factory=now_ms)

    @property
    def parts(self) -> tuple[str, str, str]:
        """Return (catalog, schema, table)."""
        catalog, schema, table = self.full_name.split(".")
        return catalog, schema, table

    def info(self, metastore_id: str) -> dict[str, Any]:
        """Return the TableInfo payload."""
        catalog, schema, name = self.parts
        return _drop_none(
            {
                "name": name,
                "catalog_name": catalog,
                "schema_name": schema,
                "full_name": self.full_name,
                "table_type": self.table_type,
                "data_source_format": self.data_source_format,
                "owner": self.owner,
                "table_id": self.table_id,
                "metastore_id": metastore_id,
                "storage_location": f"abfss://data@emulator.dfs.core.windows.net/{catalog}/{schema}/{name}",
                "columns": [
                    {
                        "name": "id",
                        "type_name": "LONG",
                        "type_text": "bigint",
                        "position": 0,
                        "nullable": False,
                    }
                ],
                "properties": {},
                "created_at": self.created_at,
                "created_by": self.owner,
                "updated_at": self.created_at,
                "updated_by": self.owner,
            }
        )


@dataclass
class RecipientToken:
    """One bearer token of a TOKEN recipient and its one-time activation link."""

    id: str
    activation_token: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    expiration_time: int | None = None
    retrieved: bool = False
    bearer_token: str | None = None

    def is_active(self, at_ms: int) -> bool:
        """Return whether the token has not expired at ``at_ms``."""
        return self.expiration_time is None or self.expiration_time > at_ms


@dataclass
class Recipient:
    """A Delta Sharing recipient (D2O ``TOKEN`` or D2D ``DATABRICKS``)."""

    name: str
    authentication_type: str
    owner: str
    id: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    comment: str | None = None
    expiration_time: int | None = None
    ip_access_list: list[str] | None = None
    properties: dict[str, str] | None = None
    data_recipient_global_metastore_id: str | None = None
    sharing_code: str | None = None
    activated: bool = False
    tokens: list[RecipientToken] = field(default_factory=list)


@dataclass
class Share:
    """A share and its data objects, keyed by ``shared_as`` (or name for non-table objects), lowercase."""

    name: str
    owner: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    comment: str | None = None
    storage_root: str | None = None
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class WorkspaceSettings:
    """Behaviour knobs a test can change at run time (``/__emulator/config``)."""

    error_code_style: ErrorCodeStyle = "specific"
    page_size: int | None = None
    empty_first_page: bool = False


def _check_metastore_changes(changes: Mapping[str, Any]) -> None:
    """Refuse values of the wrong type or outside their enum with 400, before anything changes."""
    for name, value in changes.items():
        if name == "delta_sharing_scope":
            valid = isinstance(value, str) and value in DELTA_SHARING_SCOPES
        elif name == "delta_sharing_recipient_token_lifetime_in_seconds":
            valid = isinstance(value, int) and not isinstance(value, bool) and value >= 0  # 0: tokens never expire
        elif name == "external_access_enabled":
            valid = isinstance(value, bool)
        elif name in ("workspace_id", "created_at"):
            valid = isinstance(value, int) and not isinstance(value, bool)
        else:
            valid = isinstance(value, str) and bool(value)
        if not valid:
            raise invalid_parameter(f"Invalid {name}: {value!r}")


def _recipient_json(recipient: Recipient) -> dict[str, Any]:
    """Return a recipient as JSON-ready data (sharing the live values: serialise it at once)."""
    return {**vars(recipient), "tokens": [vars(token) for token in recipient.tokens]}


def _recipient_from_json(data: Mapping[str, Any]) -> Recipient:
    tokens = [RecipientToken(**token) for token in data.get("tokens", [])]
    return Recipient(**{**data, "tokens": tokens})


class Workspace:
    """The emulated workspace, optionally persisted: every change is journalled before it is answered.

    Args:
        public_url: the base URL clients reach the emulator at, used in activation links and endpoints.
        state_file: where to keep the state across restarts (a snapshot, plus ``<state_file>.journal``
            for the changes since; see :mod:`emulator.journal`); loaded if it exists. ``None``: memory only.
        settings: initial behaviour knobs.
    """

    def __init__(
        self,
        *,
        public_url: str = "http://127.0.0.1",
        state_file: str | os.PathLike[str] | None = None,
        settings: WorkspaceSettings | None = None,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.state_file = Path(state_file) if state_file is not None else None
        self.settings = settings or WorkspaceSettings()
        self._lock = threading.RLock()
        self.metastore = Metastore()
        self.tables: dict[str, Table] = {}
        self.recipients: dict[str, Recipient] = {}
        self.shares: dict[str, Share] = {}
        self.grants: dict[str, dict[str, list[str]]] = {}  # share -> recipient -> privileges
        # (catalog, schema) -> its tables' full names: schema checks and listings without a scan of all tables.
        self._schemas: dict[tuple[str, str], set[str]] = {}
        self._store = StateStore(self.state_file) if self.state_file is not None else None
        if self._store is not None:
            self._restore(self._store)

    # -- persistence -------------------------------------------------------------------------------

    def _view(self) -> dict[str, Any]:
        """Return the state as JSON-ready data that still shares the live objects (call under the lock).

        ``dataclasses.asdict`` deep-copies everything and dominated the cost of saving a workspace with
        thousands of shared objects; serialising this view directly is several times faster.
        """
        return {
            "version": STATE_FORMAT_VERSION,
            "metastore": vars(self.metastore),
            "tables": [vars(table) for table in self.tables.values()],
            "recipients": [_recipient_json(recipient) for recipient in self.recipients.values()],
            "shares": [vars(share) for share in self.shares.values()],
            "grants": self.grants,
        }

    def snapshot(self) -> dict[str, Any]:
        """Return a private copy of the whole state (what the state file holds)."""
        with self._lock:
            return json.loads(json.dumps(self._view()))

    def _load(self, data: Mapping[str, Any]) -> None:
        self.metastore = Metastore(**data["metastore"])
        self.tables, self._schemas = {}, {}
        for item in data.get("tables", []):
            self._put_table(Table(**item))
        self.recipients = {}
        for item in data.get("recipients", []):
            self.recipients[item["name"]] = _recipient_from_json(item)
        self.shares = {item["name"]: Share(**item) for item in data.get("shares", [])}
        self.grants = {share: dict(grants) for share, grants in data.get("grants", {}).items()}

    def _restore(self, store: StateStore) -> None:
        """Load the snapshot, replay the journal over it, and fold both into a new snapshot."""
        snapshot = store.read_snapshot()
        if snapshot is not None:
            self._load(snapshot)
        for change in store.read_journal():
            self._apply(change)
        store.compact(self._view())

    def _apply(self, change: Change) -> None:
        """Replay one journalled change: set the entity it names to its value, or remove it."""
        key, value = change.key, change.value
        if change.kind == "metastore" and value is not None:
            self.metastore = Metastore(**value)
        elif change.kind == "table":
            self._pop_table(str(key))
            if value is not None:
                self._put_table(Table(**value))
        elif change.kind == "recipient":
            self.recipients.pop(str(key), None)
            if value is not None:
                self.recipients[str(key)] = _recipient_from_json(value)
        elif change.kind == "share":
            existing = self.shares.pop(str(key), None)
            if value is not None:
                objects = value.get("objects")
                if objects is None:
                    objects = existing.objects if existing is not None else {}
                self.shares[str(key)] = Share(**{**value, "objects": dict(objects)})
        elif change.kind == "share_object":
            share_name, object_key = key
            share = self.shares.get(share_name)
            if share is not None:
                share.objects.pop(object_key, None)
                if value is not None:
                    share.objects[object_key] = dict(value)
        elif change.kind == "grants":
            self.grants.pop(str(key), None)
            if value is not None:
                self.grants[str(key)] = {principal: list(p) for principal, p in value.items()}
        else:
            raise ValueError(f"Unknown journal record kind {change.kind!r} in {self.state_file}")

    def _record(self, *changes: Change) -> None:
        """Journal ``changes`` (call under the lock, after the change and before answering)."""
        if self._store is None:
            return
        self._store.append(changes)
        if self._store.needs_compaction():
            self._store.compact(self._view())

    def _compact(self) -> None:
        if self._store is not None:
            self._store.compact(self._view())

    def close(self) -> None:
        """Release the journal file (the state is already on disk)."""
        if self._store is not None:
            self._store.close()

    # The changes each kind of entity records: its current value, or ``None`` once it is gone.

    def _metastore_change(self) -> Change:
        return Change("metastore", "metastore", vars(self.metastore))

    def _table_change(self, full_name: str) -> Change:
        table = self.tables.get(full_name)
        return Change("table", full_name, vars(table) if table is not None else None)

    def _recipient_change(self, name: str) -> Change:
        recipient = self.recipients.get(name)
        return Change("recipient", name, _recipient_json(recipient) if recipient is not None else None)

    def _share_change(self, name: str, *, with_objects: bool) -> Change:
        """The share's attributes; its objects too only when ``with_objects`` (else they are kept)."""
        share = self.shares.get(name)
        if share is None:
            return Change("share", name, None)
        value = {k: v for k, v in vars(share).items() if with_objects or k != "objects"}
        return Change("share", name, value)

    def _share_object_change(self, share_name: str, object_key: str) -> Change:
        return Change("share_object", [share_name, object_key], self.shares[share_name].objects.get(object_key))

    def _grants_change(self, share_name: str) -> Change:
        return Change("grants", share_name, self.grants.get(share_name))

    def _put_table(self, table: Table) -> None:
        self.tables[table.full_name] = table
        self._schemas.setdefault(table.parts[:2], set()).add(table.full_name)

    def _pop_table(self, full_name: str) -> Table | None:
        table = self.tables.pop(full_name, None)
        if table is not None:
            schema = self._schemas.get(table.parts[:2])
            if schema is not None:
                schema.discard(full_name)
                if not schema:
                    del self._schemas[table.parts[:2]]
        return table

    def reset(self, *, seed_tables: Iterable[str] = ()) -> None:
        """Forget every object and metastore setting (its identity stays), then seed ``seed_tables``."""
        with self._lock:
            self.metastore = Metastore(metastore_id=self.metastore.metastore_id, created_at=self.metastore.created_at)
            self.tables.clear()
            self._schemas.clear()
            self.recipients.clear()
            self.shares.clear()
            self.grants.clear()
            self.seed_tables([{"full_name": name} for name in seed_tables])
            self._compact()

    # -- helpers -----------------------------------------------------------------------------------

    def _not_found(self, kind: str, message: str) -> ApiError:
        return does_not_exist(kind, message, style=self.settings.error_code_style)

    def _exists(self, kind: str, message: str) -> ApiError:
        return already_exists(kind, message, style=self.settings.error_code_style)

    def _recipient(self, name: str) -> Recipient:
        recipient = self.recipients.get(name.lower())
        if recipient is None:
            raise self._not_found("recipient", f"Recipient '{name}' does not exist.")
        return recipient

    def _share(self, name: str) -> Share:
        share = self.shares.get(name.lower())
        if share is None:
            raise self._not_found("share", f"Share {name} does not exist.")
        return share

    def activation_url(self, token: RecipientToken) -> str:
        """Return the link a D2O recipient opens to download its credential file."""
        return f"{self.public_url}/delta_sharing/retrieve_config.html?{token.activation_token}"

    # -- metastore and tables ----------------------------------------------------------------------

    def metastore_summary(self) -> dict[str, Any]:
        """Return ``GET metastore_summary``."""
        with self._lock:
            return self.metastore.summary()

    def metastore_assignment(self) -> dict[str, Any]:
        """Return ``GET current-metastore-assignment``."""
        with self._lock:
            return {
                "workspace_id": self.metastore.workspace_id,
                "metastore_id": self.metastore.metastore_id,
                "default_catalog_name": self.metastore.default_catalog_name,
            }

    def update_metastore(self, changes: Mapping[str, Any], *, caller: str | None = None) -> dict[str, Any]:
        """Change metastore attributes (test hook), e.g. ``delta_sharing_scope``; return the summary."""
        with self._lock:
            known = {f.name for f in dataclasses.fields(Metastore)} - {"updated_at", "updated_by"}
            unknown = set(changes) - known
            if unknown:
                raise invalid_parameter(f"Unknown metastore fields: {sorted(unknown)}")
            _check_metastore_changes(changes)
            self.metastore = dataclasses.replace(
                self.metastore, **changes, updated_at=now_ms(), updated_by=caller or self.metastore.owner
            )
            self._record(self._metastore_change())
            return self.metastore.summary()

    def patch_metastore(self, metastore_id: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Apply ``PATCH metastores/{id}`` (``metastores.update``): the sharing settings, owner and name."""
        with self._lock:
            if metastore_id.lower() != self.metastore.metastore_id:
                raise self._not_found("metastore", f"Metastore '{metastore_id}' does not exist.")
            changes = {key: body[key] for key in UPDATABLE_METASTORE_FIELDS if body.get(key) is not None}
            if body.get("new_name") is not None:
                changes["name"] = body["new_name"]
            return self.update_metastore(changes, caller=caller)

    def get_metastore(self, metastore_id: str) -> dict[str, Any]:
        """Return ``GET metastores/{id}`` (``metastores.get``)."""
        with self._lock:
            if metastore_id.lower() != self.metastore.metastore_id:
                raise self._not_found("metastore", f"Metastore '{metastore_id}' does not exist.")
            return self.metastore.summary()

    def seed_tables(self, specs: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create (or redefine) tables from ``{"full_name", "table_type"?, "owner_lacks_select"?}`` specs."""
        with self._lock:
            # Every spec is checked before any table changes, so a bad one leaves the workspace as it was.
            tables = [self._table_from_spec(spec) for spec in specs]
            for table in tables:
                self._put_table(table)
            # One write for the whole batch: seeding the design-scale 20,000 tables is one hook call.
            self._record(*(self._table_change(table.full_name) for table in tables))
        return [table.full_name for table in tables]

    def _table_from_spec(self, spec: Mapping[str, Any]) -> Table:
        full_name = str(spec.get("full_name", "")).lower()
        parts = full_name.split(".")
        if len(parts) != 3 or not all(parts):
            raise invalid_parameter(f"Table name must be catalog.schema.table, got '{full_name}'")
        table_type = str(spec.get("table_type") or "MANAGED").upper()
        if table_type not in TABLE_TYPES:
            raise invalid_parameter(f"Unknown table_type {table_type}")
        existing = self.tables.get(full_name)
        return Table(
            full_name=full_name,
            table_type=table_type,
            data_source_format="DELTA" if table_type in ("MANAGED", "EXTERNAL") else None,
            owner_lacks_select=bool(spec.get("owner_lacks_select", False)),
            table_id=existing.table_id if existing else str(uuid.uuid4()),
            created_at=existing.created_at if existing else now_ms(),
        )

    def drop_table(self, full_name: str) -> None:
        """Drop a table (test hook); shares that hold it keep the now dangling object, as in UC."""
        with self._lock:
            if self._pop_table(full_name.lower()) is None:
                raise self._not_found("table", f"Table '{full_name}' does not exist.")
            self._record(self._table_change(full_name.lower()))

    def _resolve_table(self, full_name: str) -> Table:
        """Return a table or raise the most specific 404 (catalog, then schema, then table)."""
        name = full_name.lower()
        parts = name.split(".")
        if len(parts) != 3 or not all(parts):
            raise invalid_parameter(f"Invalid table name '{full_name}': expected catalog.schema.table")
        table = self.tables.get(name)
        if table is not None:
            return table
        catalog, schema, _ = parts
        self._require_schema(catalog, schema)
        raise self._not_found("table", f"Table '{name}' does not exist.")

    def _require_schema(self, catalog: str, schema: str) -> None:
        # A catalog or schema exists while it holds a table; the emulator models no empty ones.
        if (catalog, schema) in self._schemas:
            return
        if not any(known_catalog == catalog for known_catalog, _ in self._schemas):
            raise self._not_found("catalog", f"Catalog '{catalog}' does not exist.")
        raise self._not_found("schema", f"Schema '{catalog}.{schema}' does not exist.")

    def get_table(self, full_name: str) -> dict[str, Any]:
        """Return ``GET tables/{full_name}``."""
        with self._lock:
            return self._resolve_table(full_name).info(self.metastore.metastore_id)

    def table_exists(self, full_name: str) -> dict[str, Any]:
        """Return ``GET tables/{full_name}/exists``; a missing catalog or schema is still a 404."""
        with self._lock:
            name = full_name.lower()
            parts = name.split(".")
            if len(parts) != 3 or not all(parts):
                raise invalid_parameter(f"Invalid table name '{full_name}': expected catalog.schema.table")
            self._require_schema(parts[0], parts[1])
            return {"table_exists": name in self.tables}

    def list_tables(
        self,
        *,
        catalog_name: str,
        schema_name: str,
        max_results: int | None,
        page_token: str | None,
        omit: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Return ``GET tables`` for one schema; ``omit`` drops ``columns``/``properties``/usernames."""
        with self._lock:
            catalog, schema = catalog_name.lower(), schema_name.lower()
            self._require_schema(catalog, schema)
            tables = [self.tables[name] for name in self._schemas[(catalog, schema)]]
            page, token = paginate(
                tables,
                key=lambda t: t.full_name,
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            infos = [t.info(self.metastore.metastore_id) for t in page]
            dropped = {"username": ("owner", "created_by", "updated_by")}
            for item in omit:
                for info in infos:
                    for name in dropped.get(item, (item,)):
                        info.pop(name, None)
            return _drop_none({"tables": infos, "next_page_token": token})

    # -- recipients --------------------------------------------------------------------------------

    def recipient_info(self, recipient: Recipient) -> dict[str, Any]:
        """Return the full RecipientInfo payload."""
        info: dict[str, Any] = {
            "name": recipient.name,
            "authentication_type": recipient.authentication_type,
            "owner": recipient.owner,
            "comment": recipient.comment,
            "id": recipient.id,
            "created_at": recipient.created_at,
            "created_by": recipient.created_by,
            "updated_at": recipient.updated_at,
            "updated_by": recipient.updated_by,
            "activated": recipient.activated,
            # The recipient's expiry is its newest token's when no explicit one was set.
            "expiration_time": recipient.expiration_time
            or (recipient.tokens[-1].expiration_time if recipient.tokens else None),
            "properties_kvpairs": (
                {"properties": dict(recipient.properties)} if recipient.properties is not None else None
            ),
            "ip_access_list": (
                {"allowed_ip_addresses": list(recipient.ip_access_list)} if recipient.ip_access_list else None
            ),
            "metastore_id": self.metastore.metastore_id if recipient.authentication_type != "DATABRICKS" else None,
        }
        if recipient.authentication_type == "DATABRICKS":
            match = _SHARING_IDENTIFIER.match(recipient.data_recipient_global_metastore_id or "")
            info["data_recipient_global_metastore_id"] = recipient.data_recipient_global_metastore_id
            info["sharing_code"] = recipient.sharing_code
            if match:
                info.update(match.groupdict())
        if recipient.authentication_type == "TOKEN":
            info["tokens"] = [self._token_info(token) for token in recipient.tokens]
            pending = [t for t in recipient.tokens if not t.retrieved and t.is_active(now_ms())]
            info["activation_url"] = self.activation_url(pending[-1]) if pending else ""
        return _drop_none(info)

    def _token_info(self, token: RecipientToken) -> dict[str, Any]:
        return _drop_none(
            {
                "id": token.id,
                "activation_url": "" if token.retrieved else self.activation_url(token),
                "expiration_time": token.expiration_time,
                "created_at": token.created_at,
                "created_by": token.created_by,
                "updated_at": token.updated_at,
                "updated_by": token.updated_by,
            }
        )

    def _new_token(self, *, caller: str, expiration_time: int | None) -> RecipientToken:
        at = now_ms()
        if expiration_time is None:
            lifetime = self.metastore.delta_sharing_recipient_token_lifetime_in_seconds
            expiration_time = at + lifetime * 1000 if lifetime else None
        return RecipientToken(
            id=str(uuid.uuid4()),
            activation_token=secrets.token_urlsafe(24),
            created_at=at,
            created_by=caller,
            updated_at=at,
            updated_by=caller,
            expiration_time=expiration_time,
        )

    @staticmethod
    def _ip_access_list(value: Any) -> list[str] | None:
        """Validate ``{"allowed_ip_addresses": [...]}``; ``{}`` or an empty list clears the list.

        The SDK drops an empty list, so a clearing arrives as ``{"ip_access_list": {}}``; see
        https://docs.databricks.com/api/workspace/recipients/update (``ip_access_list``).
        """
        if not isinstance(value, Mapping):
            raise invalid_parameter("ip_access_list must be an object")
        addresses = value.get("allowed_ip_addresses") or []
        if not isinstance(addresses, list):
            raise invalid_parameter("ip_access_list.allowed_ip_addresses must be a list")
        if len(addresses) > MAX_IP_ACCESS_LIST_ENTRIES:
            raise invalid_parameter(
                f"ip_access_list can contain at most {MAX_IP_ACCESS_LIST_ENTRIES} entries, got {len(addresses)}"
            )
        for address in addresses:
            try:
                ipaddress.IPv4Network(str(address), strict=False)
            except ValueError as exc:
                raise invalid_parameter(f"Invalid IP address or CIDR range: '{address}'") from exc
        return list(addresses) or None

    @staticmethod
    def _properties(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping) or not isinstance(value.get("properties", {}), Mapping):
            raise invalid_parameter('properties_kvpairs must be {"properties": {key: value}}')
        return {str(k): str(v) for k, v in value.get("properties", {}).items()}

    @staticmethod
    def _expiration_time(value: Any) -> int:
        try:
            expiration = int(value)
        except (TypeError, ValueError) as exc:
            raise invalid_parameter(f"Invalid expiration_time: {value!r}") from exc
        if expiration <= now_ms():
            raise invalid_parameter("expiration_time must be in the future")
        return expiration

    def create_recipient(self, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Create a recipient (``POST recipients``)."""
        with self._lock:
            name = validate_securable_name(body.get("name"), operation="CreateRecipient")
            auth_type = body.get("authentication_type")
            if not auth_type:
                raise invalid_parameter("CreateRecipient Missing required field: authentication_type")
            if auth_type not in AUTHENTICATION_TYPES:
                raise invalid_parameter(f"Invalid authentication_type: {auth_type}")
            if (
                auth_type in OPEN_SHARING_AUTHENTICATION_TYPES
                and self.metastore.delta_sharing_scope != "INTERNAL_AND_EXTERNAL"
            ):
                # The text Databricks answers (terraform-provider-databricks#4350); FEATURE_DISABLED is the
                # code its audit log documents for sharing that is not enabled. Databricks-to-Databricks
                # recipients stay allowed: the emulator cannot tell another account's metastore from ours.
                raise ApiError(
                    400,
                    "FEATURE_DISABLED",
                    "External Delta Sharing is not enabled on the metastore. "
                    "Please contact the account admin to enable External Delta Sharing.",
                )
            if name in self.recipients:
                raise self._exists("recipient", f"Recipient {name} already exists")
            sharing_id = body.get("data_recipient_global_metastore_id")
            if auth_type == "DATABRICKS":
                sharing_id = self._check_sharing_identifier(sharing_id)
            elif sharing_id is not None:
                raise invalid_parameter("data_recipient_global_metastore_id can only be set for DATABRICKS recipients")
            ip_access_list = None
            if body.get("ip_access_list") is not None:
                if auth_type != "TOKEN":
                    raise invalid_parameter("IP access lists can only be set on TOKEN recipients")
                ip_access_list = self._ip_access_list(body["ip_access_list"])
            expiration = body.get("expiration_time")
            expiration = self._expiration_time(expiration) if expiration is not None else None
            at = now_ms()
            recipient = Recipient(
                name=name,
                authentication_type=auth_type,
                owner=body.get("owner") or caller,
                id=str(uuid.uuid4()),
                created_at=at,
                created_by=caller,
                updated_at=at,
                updated_by=caller,
                comment=body.get("comment"),
                expiration_time=expiration,
                ip_access_list=ip_access_list,
                properties=(self._properties(body["properties_kvpairs"]) if body.get("properties_kvpairs") else None),
                data_recipient_global_metastore_id=sharing_id,
                sharing_code=body.get("sharing_code") if auth_type == "DATABRICKS" else None,
                activated=auth_type == "DATABRICKS",
            )
            if auth_type == "TOKEN":
                recipient.tokens.append(self._new_token(caller=caller, expiration_time=expiration))
            self.recipients[name] = recipient
            self._record(self._recipient_change(name))
            return self.recipient_info(recipient)

    def _check_sharing_identifier(self, sharing_id: Any) -> str:
        """Validate a D2D sharing identifier and enforce one recipient per identifier."""
        if not sharing_id:
            raise invalid_parameter("CreateRecipient Missing required field: data_recipient_global_metastore_id")
        normalized = str(sharing_id).lower()
        if not _SHARING_IDENTIFIER.match(normalized):
            raise invalid_parameter(f"Cannot resolve target shard for sharing identifier '{sharing_id}'")
        for other in self.recipients.values():
            if other.data_recipient_global_metastore_id == normalized:
                raise self._exists(
                    "recipient",
                    f"There is already a Recipient object '{other.name}' with the same sharing identifier "
                    f"'{normalized}'",
                )
        return normalized

    def get_recipient(self, name: str) -> dict[str, Any]:
        """Return ``GET recipients/{name}``."""
        with self._lock:
            return self.recipient_info(self._recipient(name))

    def list_recipients(
        self, *, sharing_identifier: str | None, max_results: int | None, page_token: str | None
    ) -> dict[str, Any]:
        """Return ``GET recipients``, optionally filtered by D2D sharing identifier."""
        with self._lock:
            recipients = list(self.recipients.values())
            if sharing_identifier:
                wanted = sharing_identifier.lower()
                recipients = [r for r in recipients if r.data_recipient_global_metastore_id == wanted]
            page, token = paginate(
                recipients,
                key=lambda r: r.name,
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return _drop_none({"recipients": [self.recipient_info(r) for r in page], "next_page_token": token})

    def update_recipient(self, name: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Apply ``PATCH recipients/{name}``; ``properties_kvpairs`` replaces the whole map."""
        with self._lock:
            recipient = copy.deepcopy(self._recipient(name))
            if body.get("ip_access_list") is not None:
                if recipient.authentication_type != "TOKEN":
                    raise invalid_parameter("IP access lists can only be set on TOKEN recipients")
                recipient.ip_access_list = self._ip_access_list(body["ip_access_list"])
            if body.get("properties_kvpairs") is not None:
                recipient.properties = self._properties(body["properties_kvpairs"]) or None
            if body.get("comment") is not None:
                recipient.comment = body["comment"]
            if body.get("owner") is not None:
                recipient.owner = body["owner"]
            if body.get("expiration_time") is not None:
                recipient.expiration_time = self._expiration_time(body["expiration_time"])
                # Only the newest token follows: an older one shortened by a rotation must stay short.
                if recipient.tokens and recipient.tokens[-1].is_active(now_ms()):
                    recipient.tokens[-1].expiration_time = recipient.expiration_time
            old_name = recipient.name
            if body.get("new_name") is not None:
                new_name = validate_securable_name(body["new_name"], operation="UpdateRecipient")
                if new_name != old_name and new_name in self.recipients:
                    raise self._exists("recipient", f"Recipient {new_name} already exists")
                recipient.name = new_name
            recipient.updated_at, recipient.updated_by = now_ms(), caller
            del self.recipients[old_name]
            self.recipients[recipient.name] = recipient
            changes = [self._recipient_change(old_name), self._recipient_change(recipient.name)]
            if recipient.name != old_name:
                for share_name, grants in self.grants.items():
                    if old_name in grants:
                        grants[recipient.name] = grants.pop(old_name)
                        changes.append(self._grants_change(share_name))
            self._record(*changes)
            return self.recipient_info(recipient)

    def delete_recipient(self, name: str) -> None:
        """Delete a recipient and every grant to it."""
        with self._lock:
            recipient = self._recipient(name)
            del self.recipients[recipient.name]
            changes = [self._recipient_change(recipient.name)]
            for share_name, grants in self.grants.items():
                if grants.pop(recipient.name, None) is not None:
                    changes.append(self._grants_change(share_name))
            self._record(*changes)

    def rotate_token(self, name: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Shorten the current tokens to now + ``existing_token_expire_in_seconds`` and issue a new one."""
        with self._lock:
            recipient = self._recipient(name)
            if recipient.authentication_type != "TOKEN":
                raise invalid_parameter(f"Cannot rotate token for recipient {recipient.name}: not a TOKEN recipient")
            seconds = body.get("existing_token_expire_in_seconds")
            if seconds is None:
                raise invalid_parameter("RotateRecipientToken Missing required field: existing_token_expire_in_seconds")
            if not isinstance(seconds, int) or seconds < 0:
                raise invalid_parameter("existing_token_expire_in_seconds must be a non-negative integer")
            at = now_ms()
            active = [token for token in recipient.tokens if token.is_active(at)]
            if len(active) >= MAX_ACTIVE_TOKENS:
                raise invalid_parameter(f"There are already two active tokens for recipient {recipient.name}")
            new_expiry = at + seconds * 1000
            for token in active:
                if token.expiration_time is None or new_expiry < token.expiration_time:
                    token.expiration_time = new_expiry
                    token.updated_at, token.updated_by = at, caller
            explicit = recipient.expiration_time if (recipient.expiration_time or 0) > at else None
            recipient.tokens.append(self._new_token(caller=caller, expiration_time=explicit))
            recipient.updated_at, recipient.updated_by = at, caller
            self._record(self._recipient_change(recipient.name))
            return self.recipient_info(recipient)

    def recipient_share_permissions(
        self, name: str, *, max_results: int | None, page_token: str | None
    ) -> dict[str, Any]:
        """Return ``GET recipients/{name}/share-permissions``: the shares granted to the recipient."""
        with self._lock:
            recipient = self._recipient(name)
            granted = [
                {
                    "share_name": share,
                    "privilege_assignments": [{"principal": recipient.name, "privileges": grants[recipient.name]}],
                }
                for share, grants in self.grants.items()
                if grants.get(recipient.name)
            ]
            page, token = paginate(
                granted,
                key=lambda item: item["share_name"],
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return _drop_none({"permissions_out": page, "next_page_token": token})

    def _find_activation(self, activation_token: str) -> tuple[Recipient, RecipientToken]:
        for recipient in self.recipients.values():
            for token in recipient.tokens:
                if token.activation_token == activation_token and not token.retrieved:
                    return recipient, token
        raise does_not_exist(
            "resource",
            "Activation URL is invalid or the credential has already been retrieved",
            style="canonical",
        )

    def activation_info(self, activation_token: str) -> dict[str, Any]:
        """Return ``GET public/data_sharing_activation_info/{token}`` (no side effect)."""
        with self._lock:
            self._find_activation(activation_token)
            return {}

    def retrieve_token(self, activation_token: str) -> dict[str, Any]:
        """Hand out the credential of an activation link, once; the link is dead afterwards."""
        with self._lock:
            recipient, token = self._find_activation(activation_token)
            metastore_id = self.metastore.metastore_id
            if not token.is_active(now_ms()):
                raise ApiError(400, "INVALID_STATE", f"The activation link for recipient {recipient.name} has expired")
            token.retrieved = True
            token.bearer_token = secrets.token_urlsafe(32)
            recipient.activated = True
            self._record(self._recipient_change(recipient.name))
            expires = (
                datetime.fromtimestamp(token.expiration_time / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if token.expiration_time is not None
                else None
            )
            return _drop_none(
                {
                    "shareCredentialsVersion": 1,
                    "bearerToken": token.bearer_token,
                    "endpoint": f"{self.public_url}/api/2.0/delta-sharing/metastores/{metastore_id}",
                    "expirationTime": expires,
                }
            )

    # -- shares ------------------------------------------------------------------------------------

    @staticmethod
    def share_info(share: Share, *, include_objects: bool) -> dict[str, Any]:
        """Return the ShareInfo payload (``objects`` only when shared data is asked for)."""
        info = {
            "name": share.name,
            "owner": share.owner,
            "comment": share.comment,
            "storage_root": share.storage_root,
            "storage_location": share.storage_root,
            "created_at": share.created_at,
            "created_by": share.created_by,
            "updated_at": share.updated_at,
            "updated_by": share.updated_by,
        }
        if include_objects:
            # Shallow copies suffice: stored objects are replaced on change, never edited in place.
            info["objects"] = [dict(obj) for obj in share.objects.values()]
        return _drop_none(info)

    def create_share(self, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Create an empty share (``POST shares``)."""
        with self._lock:
            name = validate_securable_name(body.get("name"), operation="CreateShare")
            if name in self.shares:
                raise self._exists("share", f"Share {name} already exists")
            at = now_ms()
            share = Share(
                name=name,
                owner=caller,
                created_at=at,
                created_by=caller,
                updated_at=at,
                updated_by=caller,
                comment=body.get("comment"),
                storage_root=body.get("storage_root"),
            )
            self.shares[name] = share
            self._record(self._share_change(name, with_objects=True))
            return self.share_info(share, include_objects=False)

    def get_share(self, name: str, *, include_shared_data: bool) -> dict[str, Any]:
        """Return ``GET shares/{name}``."""
        with self._lock:
            return self.share_info(self._share(name), include_objects=include_shared_data)

    def list_shares(self, *, max_results: int | None, page_token: str | None) -> dict[str, Any]:
        """Return ``GET shares``."""
        with self._lock:
            page, token = paginate(
                list(self.shares.values()),
                key=lambda s: s.name,
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return _drop_none(
                {
                    "shares": [self.share_info(s, include_objects=False) for s in page],
                    "next_page_token": token,
                }
            )

    def delete_share(self, name: str) -> None:
        """Delete a share and its grants."""
        with self._lock:
            share = self._share(name)
            del self.shares[share.name]
            self.grants.pop(share.name, None)
            self._record(self._share_change(share.name, with_objects=True), self._grants_change(share.name))

    def update_share(self, name: str, body: Mapping[str, Any], *, caller: str) -> dict[str, Any]:
        """Apply ``PATCH shares/{name}``: all ``updates`` succeed together or none is applied."""
        with self._lock:
            # Copy on write: the objects an update changes are replaced, never edited in place, so a
            # shallow copy keeps the stored share intact if a later update of the same call fails.
            original = self._share(name)
            share = dataclasses.replace(original, objects=dict(original.objects))
            updates = body.get("updates") or []
            if not isinstance(updates, list):
                raise invalid_parameter("updates must be a list")
            if len(updates) > MAX_SHARE_UPDATES:
                raise invalid_parameter(
                    f"UpdateShare number of data objects to update exceeds limit {MAX_SHARE_UPDATES}"
                )
            seen: set[str] = set()
            at = now_ms()
            for update in updates:
                self._apply_share_update(share, update, seen=seen, caller=caller, at=at)
            if body.get("comment") is not None:
                share.comment = body["comment"]
            if body.get("owner") is not None:
                share.owner = body["owner"]
            if body.get("storage_root") is not None:
                share.storage_root = body["storage_root"]
            old_name = share.name
            if body.get("new_name") is not None:
                new_name = validate_securable_name(body["new_name"], operation="UpdateShare")
                if new_name != old_name and new_name in self.shares:
                    raise self._exists("share", f"Share {new_name} already exists")
                share.name = new_name
            share.updated_at, share.updated_by = at, caller
            del self.shares[old_name]
            self.shares[share.name] = share
            if share.name != old_name:
                if old_name in self.grants:
                    self.grants[share.name] = self.grants.pop(old_name)
                changes = [
                    self._share_change(old_name, with_objects=True),
                    self._grants_change(old_name),
                    self._share_change(share.name, with_objects=True),
                    self._grants_change(share.name),
                ]
            else:
                # Only what this call touched: a PATCH costs the same whatever the share already holds.
                changes = [self._share_change(share.name, with_objects=False)]
                changes += [self._share_object_change(share.name, key) for key in sorted(seen)]
            self._record(*changes)
            return self.share_info(share, include_objects=True)

    def _apply_share_update(self, share: Share, update: Any, *, seen: set[str], caller: str, at: int) -> None:
        if not isinstance(update, Mapping):
            raise invalid_parameter("Each update must be an object with action and data_object")
        action = update.get("action")
        if action not in ("ADD", "REMOVE", "UPDATE"):
            raise invalid_parameter(f"Invalid update action: {action}")
        data_object = update.get("data_object")
        if not isinstance(data_object, Mapping) or not data_object.get("name"):
            raise invalid_parameter("UpdateShare Missing required field: data_object.name")
        obj = self._normalize_object(data_object)
        explicit_alias = bool(data_object.get("shared_as") or data_object.get("string_shared_as"))
        key = self._object_key(share, obj, action=action, explicit_alias=explicit_alias)
        if key in seen:
            raise invalid_parameter(
                f"UpdateShare contains more than one update for the same data object '{obj['name']}'"
            )
        seen.add(key)
        label = f"Shared {obj['data_object_type'].replace('_', ' ').title()} '{obj['name']}'"
        if action == "ADD":
            if key in share.objects:
                raise already_exists("resource", f"{label} already exists", style="canonical")
            self._check_addable(obj)
            share.objects[key] = {
                **obj,
                "added_at": at,
                "added_by": caller,
                "status": "ACTIVE",
                "cdf_enabled": bool(obj.get("cdf_enabled", False)),
                "history_data_sharing_status": obj.get("history_data_sharing_status") or "DISABLED",
            }
            return
        if key not in share.objects:
            raise does_not_exist("resource", f"{label} does not exist in share '{share.name}'", style="canonical")
        if action == "REMOVE":
            del share.objects[key]
            return
        current = dict(share.objects[key])
        for field_name in UPDATABLE_OBJECT_FIELDS:
            if field_name in obj:
                current[field_name] = obj[field_name]
        share.objects[key] = current

    @staticmethod
    def _normalize_object(data_object: Mapping[str, Any]) -> dict[str, Any]:
        """Lowercase identifiers, default the type and ``shared_as``, and validate them."""
        obj = {key: copy.deepcopy(value) for key, value in data_object.items() if value is not None}
        obj["name"] = str(obj["name"]).lower()
        object_type = str(obj.get("data_object_type") or "TABLE").upper()
        if object_type not in DATA_OBJECT_TYPES:
            raise invalid_parameter(f"Invalid data_object_type: {object_type}")
        obj["data_object_type"] = object_type
        if object_type in TABLE_LIKE_OBJECTS:
            parts = obj["name"].split(".")
            if len(parts) != 3 or not all(parts):
                raise invalid_parameter(f"Invalid table name '{obj['name']}': expected catalog.schema.table")
            shared_as = str(obj.get("shared_as") or f"{parts[1]}.{parts[2]}")
            if not _SHARED_AS.match(shared_as):
                raise invalid_parameter(f"Invalid shared_as name '{shared_as}': expected <schema>.<table>")
            obj["shared_as"] = shared_as.lower()
        elif obj.get("string_shared_as"):
            obj["string_shared_as"] = str(obj["string_shared_as"]).lower()
        status = obj.get("history_data_sharing_status")
        if status is not None and status not in ("ENABLED", "DISABLED"):
            raise invalid_parameter(f"Invalid history_data_sharing_status: {status}")
        return obj

    @staticmethod
    def _object_key(share: Share, obj: Mapping[str, Any], *, action: str, explicit_alias: bool) -> str:
        """Return the identity of a shared object: ``shared_as`` for tables, else its alias or name.

        A REMOVE/UPDATE naming only the table (no ``shared_as``) finds the object if exactly one
        object of the share holds that table under a different alias.
        """
        key = obj.get("shared_as") or obj.get("string_shared_as") or obj["name"]
        if action != "ADD" and key not in share.objects and not explicit_alias:
            holders = [k for k, existing in share.objects.items() if existing["name"] == obj["name"]]
            if len(holders) == 1:
                return holders[0]
        return key

    def _check_addable(self, obj: Mapping[str, Any]) -> None:
        """Enforce what UC checks when an object is added: it exists, is a UC table, the owner can read it."""
        object_type = obj["data_object_type"]
        if object_type == "SCHEMA":
            parts = obj["name"].split(".")
            if len(parts) != 2:
                raise invalid_parameter(f"Invalid schema name '{obj['name']}': expected catalog.schema")
            self._require_schema(*parts)
            return
        if object_type not in TABLE_LIKE_OBJECTS:
            return  # notebooks, models, volumes...: not modelled beyond their name
        table = self._resolve_table(obj["name"])
        if table.parts[0] == HIVE_METASTORE or table.table_type not in TABLE_LIKE_OBJECTS[object_type]:
            if object_type == "TABLE":
                raise invalid_parameter("Only managed or external table on Unity Catalog can be added to a share")
            raise invalid_parameter(f"'{table.full_name}' is a {table.table_type}, not a {object_type}")
        if table.owner_lacks_select:
            raise permission_denied(f"Share owner does not have SELECT privilege on Table '{table.full_name}'.")

    # -- share permissions -------------------------------------------------------------------------

    def _assignments(self, share_name: str) -> list[dict[str, Any]]:
        grants = self.grants.get(share_name, {})
        return [
            {"principal": principal, "privileges": sorted(privileges)}
            for principal, privileges in sorted(grants.items())
            if privileges
        ]

    def share_permissions(self, name: str, *, max_results: int | None, page_token: str | None) -> dict[str, Any]:
        """Return ``GET shares/{name}/permissions``."""
        with self._lock:
            share = self._share(name)
            page, token = paginate(
                self._assignments(share.name),
                key=lambda item: item["principal"],
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return _drop_none({"privilege_assignments": page, "next_page_token": token})

    def update_share_permissions(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``PATCH shares/{name}/permissions``; principals are recipient names."""
        with self._lock:
            share = self._share(name)
            changes = body.get("changes") or []
            if not isinstance(changes, list):
                raise invalid_parameter("changes must be a list")
            grants = copy.deepcopy(self.grants.get(share.name, {}))
            for change in changes:
                if not isinstance(change, Mapping) or not change.get("principal"):
                    raise invalid_parameter("UpdatePermissions Missing required field: changes.principal")
                principal = self._recipient(str(change["principal"])).name
                add, remove = change.get("add") or [], change.get("remove") or []
                for privilege in [*add, *remove]:
                    if privilege not in SHARE_PRIVILEGES:
                        raise invalid_parameter(f"Privilege {privilege} is not applicable to this entity [share]")
                privileges = set(grants.get(principal, [])) | set(add)
                privileges -= set(remove)
                grants[principal] = sorted(privileges)
            self.grants[share.name] = {principal: p for principal, p in grants.items() if p}
            self._record(self._grants_change(share.name))
            if body.get("omit_permissions_list"):
                return {}
            return {"privilege_assignments": self._assignments(share.name)}
