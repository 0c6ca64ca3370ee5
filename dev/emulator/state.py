"""The emulated workspace: its metastore, tables, recipients, shares and grants, and the rules on them.

Everything Unity Catalog enforces that our worker depends on lives in the parts composed here, independent
of HTTP: names are case-insensitive and stored lowercase (:mod:`dev.emulator.workspace_base`), shared tables
must exist and be readable by the share owner (:mod:`dev.emulator.catalog`, :mod:`dev.emulator.shares`), a share
update carries at most 100 changes and is applied all-or-nothing, a TOKEN recipient has at most two active
tokens and each activation link works once (:mod:`dev.emulator.recipients`), grants name recipients
(:mod:`dev.emulator.permissions`), and every change is journalled (:mod:`dev.emulator.persistence`). The HTTP
layer only translates.

One re-entrant lock guards the model; it is held for the (short) duration of an operation, never while
the server sleeps to emulate latency, so concurrent calls still overlap.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dev.emulator.catalog import Metastore
from dev.emulator.journal import StateStore
from dev.emulator.permissions import PermissionsMixin
from dev.emulator.persistence import PersistenceMixin
from dev.emulator.workspace_base import WorkspaceSettings

__all__ = ["Workspace", "WorkspaceSettings"]


class Workspace(PersistenceMixin, PermissionsMixin):
    """The emulated workspace, optionally persisted: every change is journalled before it is answered.

    Args:
        public_url: the base URL clients reach the emulator at, used in activation links and endpoints.
        state_file: where to keep the state across restarts (a snapshot, plus ``<state_file>.journal``
            for the changes since; see :mod:`dev.emulator.journal`); loaded if it exists. ``None``: memory only.
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
        self.tables = {}
        self.recipients = {}
        self.shares = {}
        self.grants = {}
        self._schemas = {}
        self._store = StateStore(self.state_file) if self.state_file is not None else None
        if self._store is not None:
            self._restore(self._store)
