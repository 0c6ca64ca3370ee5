"""Serve the emulator over real HTTP, threaded, so parallel SDK calls overlap as they would in a workspace."""

from __future__ import annotations

import os
from collections.abc import Iterable

from dev.devserver.http import JsonHTTPServer, RunningServer
from dev.emulator.app import EmulatorApp, EmulatorConfig
from dev.emulator.auth import Authenticator
from dev.emulator.state import Workspace

#: The tables the sample share pack (``sharepack template``, ``examples/``) shares: what ``python -m dev.emulator``
#: seeds by default, so the sample provisions on a fresh workspace, and what the end-to-end tests seed.
DEMO_TABLES = (
    "sales.reporting.orders",
    "sales.reporting.customers",
    "sales.reporting.returns",
    "finance.ledger.entries",
    "finance.ledger.accounts",
)


class RunningEmulator(RunningServer[EmulatorApp]):
    """An emulated workspace serving in a background thread."""

    def stop(self) -> None:
        """Stop serving, release the port and close the workspace's state file."""
        super().stop()
        self.app.workspace.close()


def start_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    seed_tables: Iterable[str] = (),
    config: EmulatorConfig | None = None,
    authenticator: Authenticator | None = None,
) -> RunningEmulator:
    """Start an emulated workspace on ``host:port`` (0: a free port) and return once it accepts calls.

    Args:
        state_file: JSON file the workspace is loaded from and saved to after every change.
        seed_tables: tables that exist at start and after every reset (added if missing from the state file).
        config: the run-time knobs it starts with (latency, error code style, page size...); default: none set.
        authenticator: the bearer tokens, PAT principal and Azure service principals it accepts; default: the
            token ``DEFAULT_TOKEN`` as ``DEFAULT_PRINCIPAL``, and any service principal.
    """
    seeds = tuple(name.lower() for name in seed_tables)
    workspace = Workspace(state_file=state_file)
    app = EmulatorApp(
        workspace=workspace,
        authenticator=authenticator or Authenticator(),
        config=config or EmulatorConfig(),
        seed_tables=seeds,
    )
    server = JsonHTTPServer((host, port), app, name="emulator")
    workspace.public_url = server.url  # activation links must name a host a client can open
    missing = [name for name in seeds if name not in workspace.tables]
    if missing:
        workspace.seed_tables([{"full_name": name} for name in missing])
    return RunningEmulator.start(server)
