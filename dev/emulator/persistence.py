"""The workspace on disk: a snapshot plus a journal of the changes since (see :mod:`dev.emulator.journal`).

Every change is journalled before it is answered; at start the journal is replayed over the snapshot and
folded into a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dev.emulator.catalog import CatalogMixin, Metastore, Table
from dev.emulator.journal import Change, StateStore
from dev.emulator.recipients import recipient_from_json, recipient_json
from dev.emulator.shares import Share

STATE_FORMAT_VERSION = 1


class PersistenceMixin(CatalogMixin):
    """Saving, restoring and resetting the workspace."""

    def _view(self) -> dict[str, Any]:
        """Return the state as JSON-ready data that still shares the live objects (call under the lock).

        ``dataclasses.asdict`` deep-copies everything and dominated the cost of saving a workspace with
        thousands of shared objects; serialising this view directly is several times faster.
        """
        return {
            "version": STATE_FORMAT_VERSION,
            "metastore": vars(self.metastore),
            "tables": [vars(table) for table in self.tables.values()],
            "recipients": [recipient_json(recipient) for recipient in self.recipients.values()],
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
            self.recipients[item["name"]] = recipient_from_json(item)
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
                self.recipients[str(key)] = recipient_from_json(value)
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
