"""The metastore and its tables: what a share's objects must point at.

A catalog or schema exists while it holds a table (the emulator models no empty ones), so a missing
table is answered with the most specific 404: catalog, then schema, then table, as Unity Catalog does.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dev.emulator.errors import invalid_parameter
from dev.emulator.journal import Change
from dev.emulator.workspace_base import WorkspaceBase, drop_none, now_ms, paginate

DEFAULT_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600
TABLE_TYPES = frozenset(
    {"MANAGED", "EXTERNAL", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "FOREIGN", "METRIC_VIEW"}
)
HIVE_METASTORE = "hive_metastore"
# DeltaSharingScopeEnum of the SDK; only the latter lets a provider share outside its account.
DELTA_SHARING_SCOPES = frozenset({"INTERNAL", "INTERNAL_AND_EXTERNAL"})
# What ``metastores.update`` may change here (the SDK's UpdateMetastore fields the emulator models).
UPDATABLE_METASTORE_FIELDS = (
    "delta_sharing_scope",
    "delta_sharing_organization_name",
    "delta_sharing_recipient_token_lifetime_in_seconds",
    "external_access_enabled",
    "owner",
)


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
    # What sharing a table's partitions, change data feed or history from a version depends on: its
    # columns (partition columns first, each partitioned by), its Delta properties and its current version.
    columns: list[str] = field(default_factory=lambda: ["id"])
    partition_columns: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    version: int = 0

    @property
    def parts(self) -> tuple[str, str, str]:
        """Return (catalog, schema, table)."""
        catalog, schema, table = self.full_name.split(".")
        return catalog, schema, table

    def info(self, metastore_id: str) -> dict[str, Any]:
        """Return the TableInfo payload."""
        catalog, schema, name = self.parts
        return drop_none(
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
                    drop_none({
                        "name": column,
                        "type_name": "LONG" if column == "id" else "STRING",
                        "type_text": "bigint" if column == "id" else "string",
                        "position": position,
                        "nullable": column != "id",
                        "partition_index": (
                            self.partition_columns.index(column) if column in self.partition_columns else None
                        ),
                    })
                    for position, column in enumerate(self.columns)
                ],
                "properties": dict(self.properties),
                "created_at": self.created_at,
                "created_by": self.owner,
                "updated_at": self.created_at,
                "updated_by": self.owner,
            }
        )


def _sharing_facts(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The optional ``columns``, ``partition_columns``, ``properties`` and ``version`` of a seeded table."""
    partition_columns = [str(c).lower() for c in spec.get("partition_columns") or ()]
    columns = [str(c).lower() for c in spec.get("columns") or ["id"]]
    columns += [c for c in partition_columns if c not in columns]
    return {
        "columns": columns,
        "partition_columns": partition_columns,
        "properties": {str(k): str(v) for k, v in (spec.get("properties") or {}).items()},
        "version": int(spec.get("version") or 0),
    }


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


class CatalogMixin(WorkspaceBase):
    """The metastore and table operations of the workspace."""

    def _metastore_change(self) -> Change:
        return Change("metastore", "metastore", vars(self.metastore))

    def _table_change(self, full_name: str) -> Change:
        table = self.tables.get(full_name)
        return Change("table", full_name, vars(table) if table is not None else None)

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
            **_sharing_facts(spec),
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
            return drop_none({"tables": infos, "next_page_token": token})
