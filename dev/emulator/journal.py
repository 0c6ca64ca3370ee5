"""Where a persistent workspace lives on disk: a snapshot plus an append-only journal of changes.

Rewriting the whole state after each change cost ~110 ms per call once a workspace held the design-scale
pack (11 MB of JSON). Instead each change appends one JSON line per changed entity to
``<state file>.journal``, which costs the same whatever the size of the workspace. On start the
journal is replayed over the snapshot and both are folded into a fresh snapshot ("compaction"); a
journal that outgrows the snapshot several times over is compacted while running too, so replay
time and disk use stay proportional to the state, not to its history.

Durability: each change is handed to the kernel with one unbuffered ``write`` before the client gets
its reply, and is not fsynced. A killed emulator (even ``kill -9``) loses nothing, because the data is
already in the page cache; only an operating-system crash or power loss could drop the last changes,
which a development emulator does not need to survive, and an fsync per call would cost milliseconds
(the latency we are removing). Snapshots, written rarely, are fsynced and renamed into place, so a
crash at any moment leaves either the old or the new one.

A crash in the middle of a ``write`` can leave a torn last line. Replay stops at the first line that
is not complete JSON; every record before it is intact because records are appended in order.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dev.devserver.persistence import write_atomically

log = logging.getLogger(__name__)

#: Compact while running once the journal is this many times larger than the last snapshot...
COMPACT_RATIO = 4
#: ...and at least this large, so a small workspace is not compacted every few calls.
COMPACT_MIN_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Change:
    """One entity's new value, or its removal (``value is None``).

    ``kind`` names the collection (``table``, ``recipient``, ``share``, ``share_object``, ``grants``,
    ``metastore``) and ``key`` the entity in it. Replaying a change sets the entity to ``value``, so
    applying a journal twice gives the same state as applying it once.
    """

    kind: str
    key: str | list[str]
    value: Mapping[str, Any] | None

    def to_line(self) -> bytes:
        """Return the record as one newline-terminated JSON line."""
        record = {"kind": self.kind, "key": self.key, "value": self.value}
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"


class StateStore:
    """Snapshot file ``path`` and journal ``path.journal`` of one workspace.

    Not thread-safe: the workspace calls it under its own lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.journal_path = self.path.with_name(f"{self.path.name}.journal")
        self._journal: Any = None  # the open binary journal file, unbuffered
        self._journal_bytes = 0
        self._snapshot_bytes = 0

    def read_snapshot(self) -> dict[str, Any] | None:
        """Return the last snapshot, or ``None`` when the workspace has never been saved."""
        if not self.path.exists():
            return None
        raw = self.path.read_bytes()
        self._snapshot_bytes = len(raw)
        return dict(json.loads(raw))

    def read_journal(self) -> Iterator[Change]:
        """Yield the journalled changes in order, stopping before a torn or corrupt line."""
        if not self.journal_path.exists():
            return
        with self.journal_path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                change = _parse(line)
                if change is None:
                    log.warning(
                        "emulator.journal_truncated: ignoring %s from line %d on (torn by a crash mid-write)",
                        self.journal_path,
                        number,
                    )
                    return
                yield change

    def append(self, changes: Sequence[Change]) -> None:
        """Append ``changes`` with a single ``write`` (see the module docstring on durability)."""
        if not changes:
            return
        if self._journal is None:
            self._journal = self.journal_path.open("ab", buffering=0)
            self._journal_bytes = self._journal.tell()
        data = b"".join(change.to_line() for change in changes)
        self._journal.write(data)
        self._journal_bytes += len(data)

    def needs_compaction(self) -> bool:
        """Return whether the journal has grown enough that folding it into a snapshot pays off."""
        return self._journal_bytes > max(COMPACT_MIN_BYTES, COMPACT_RATIO * self._snapshot_bytes)

    def compact(self, state: Mapping[str, Any]) -> None:
        """Make ``state`` the snapshot and empty the journal.

        The snapshot is durable before the journal is emptied; a crash in between replays the old journal
        over the new snapshot, which is harmless because replay sets values (see :class:`Change`).
        """
        payload = json.dumps(state, separators=(",", ":")).encode()
        write_atomically(self.path, payload)
        self._snapshot_bytes = len(payload)
        self.close()
        with self.journal_path.open("wb"):
            pass  # truncate
        self._journal_bytes = 0

    def close(self) -> None:
        """Close the journal file (it reopens on the next append)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def _parse(line: bytes) -> Change | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
        return Change(kind=record["kind"], key=record["key"], value=record["value"])
    except (ValueError, KeyError, TypeError):
        return None
