"""Shares and their data objects: a share update carries at most 100 changes and is applied all-or-nothing;
shared tables must exist, be Unity Catalog tables of the right type and be readable by the share owner.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dev.emulator.catalog import HIVE_METASTORE, CatalogMixin
from dev.emulator.errors import already_exists, does_not_exist, invalid_parameter, permission_denied
from dev.emulator.journal import Change
from dev.emulator.workspace_base import drop_none, now_ms, paginate, validate_securable_name

MAX_SHARE_UPDATES = 100
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
_SHARED_AS = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


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


class SharesMixin(CatalogMixin):
    """The share operations of the workspace."""

    def _share_change(self, name: str, *, with_objects: bool) -> Change:
        """The share's attributes; its objects too only when ``with_objects`` (else they are kept)."""
        share = self.shares.get(name)
        if share is None:
            return Change("share", name, None)
        value = {k: v for k, v in vars(share).items() if with_objects or k != "objects"}
        return Change("share", name, value)

    def _share_object_change(self, share_name: str, object_key: str) -> Change:
        return Change("share_object", [share_name, object_key], self.shares[share_name].objects.get(object_key))

    def _share(self, name: str) -> Share:
        share = self.shares.get(name.lower())
        if share is None:
            raise self._not_found("share", f"Share {name} does not exist.")
        return share

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
        return drop_none(info)

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
            return drop_none(
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
            self._check_sharing_fields(obj)
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
        self._check_sharing_fields(current)
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

    def _check_sharing_fields(self, obj: Mapping[str, Any]) -> None:
        """Check partitions, change data feed and start version against the table, as Unity Catalog does.

        ``PartitionValue``: a column ``name``, then ``value`` or ``recipient_property_key`` (not both; neither
        is NULL), ``op`` EQUAL or LIKE (databricks-sdk 0.162). Partitions name partition columns; the change
        data feed needs ``delta.enableChangeDataFeed``; ``start_version`` needs the history shared and must
        not pass the table's current version (`SharedDataObject.start_version`).
        """
        partitions, cdf, start = obj.get("partitions"), obj.get("cdf_enabled"), obj.get("start_version")
        if not partitions and not cdf and start is None:
            return
        if obj["data_object_type"] != "TABLE":
            raise invalid_parameter(f"Partitions, change data feed and start version apply to tables only, not "
                                    f"{obj['data_object_type']} '{obj['name']}'")
        table = self._resolve_table(obj["name"])
        if not isinstance(partitions or [], list):
            raise invalid_parameter("partitions must be a list")
        for partition in partitions or []:
            values = partition.get("values") if isinstance(partition, Mapping) else None
            if not isinstance(values, list) or not values:
                raise invalid_parameter("Each partition must hold a non-empty list of values")
            for value in values:
                self._check_partition_value(value, table)
        if cdf and table.properties.get("delta.enableChangeDataFeed", "").lower() != "true":
            raise invalid_parameter(f"Cannot share the change data feed of '{table.full_name}': the table does not "
                                    "have delta.enableChangeDataFeed set to true")
        if start is not None:
            if isinstance(start, bool) or not isinstance(start, int) or start < 0:
                raise invalid_parameter(f"Invalid start_version: {start!r}")
            if obj.get("history_data_sharing_status") != "ENABLED":
                raise invalid_parameter("start_version can only be set when history_data_sharing_status is ENABLED")
            if start > table.version:
                raise invalid_parameter(f"start_version {start} is greater than the current version "
                                        f"{table.version} of '{table.full_name}'")

    @staticmethod
    def _check_partition_value(value: Any, table: Any) -> None:
        if not isinstance(value, Mapping) or not value.get("name"):
            raise invalid_parameter("Each partition value needs a column name")
        if value.get("value") is not None and value.get("recipient_property_key") is not None:
            raise invalid_parameter("A partition value sets value or recipient_property_key, not both")
        if value.get("op", "EQUAL") not in ("EQUAL", "LIKE"):
            raise invalid_parameter(f"Invalid partition value op: {value.get('op')}")
        if str(value["name"]).lower() not in table.partition_columns:
            raise invalid_parameter(f"'{value['name']}' is not a partition column of '{table.full_name}'")

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
