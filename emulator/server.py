"""Serve the emulator over real HTTP, threaded, so parallel SDK calls overlap as they would in a workspace."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from devserver.http import JsonHTTPServer, RunningServer
from emulator.app import EmulatorApp, EmulatorConfig
from emulator.auth import DEFAULT_PRINCIPAL, DEFAULT_TOKEN, Authenticator
from emulator.errors import ErrorCodeStyle
from emulator.state import Workspace

#: The tables the sample share pack (``sharepack template``, ``examples/``) shares: what ``python -m emulator``
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
    tokens: Iterable[str] = (DEFAULT_TOKEN,),
    state_file: str | os.PathLike[str] | None = None,
    latency_ms: int = 0,
    seed_tables: Iterable[str] = (),
    error_code_style: ErrorCodeStyle = "specific",
    page_size: int | None = None,
    principal: str = DEFAULT_PRINCIPAL,
    azure_service_principals: Mapping[str, str] | None = None,
) -> RunningEmulator:
    """Start an emulated workspace on ``host:port`` (0: a free port) and return once it accepts calls.

    Args:
        tokens: bearer tokens accepted on ``/api/**``.
        state_file: JSON file the workspace is loaded from and saved to after every change.
        latency_ms: delay added to every ``/api`` call.
        seed_tables: tables that exist at start and after every reset (added if missing from the state file).
        error_code_style: ``specific`` (``RECIPIENT_ALREADY_EXISTS``...) or ``canonical``
            (``RESOURCE_ALREADY_EXISTS``/``RESOURCE_DOES_NOT_EXIST``).
        page_size: page size of list calls that do not ask for one (``None``: everything at once).
        principal: identity of PAT callers (``created_by``, default owner).
        azure_service_principals: ``client_id -> secret`` accepted by the AAD token endpoint (``None``: any).
    """
    seeds = tuple(name.lower() for name in seed_tables)
    workspace = Workspace(state_file=state_file)
    app = EmulatorApp(
        workspace=workspace,
        authenticator=Authenticator(tokens=tokens, principal=principal, service_principals=azure_service_principals),
        config=EmulatorConfig(latency_ms=latency_ms, error_code_style=error_code_style, page_size=page_size),
        seed_tables=seeds,
    )
    server = JsonHTTPServer((host, port), app, name="emulator")
    workspace.public_url = server.url  # activation links must name a host a client can open
    missing = [name for name in seeds if name not in workspace.tables]
    if missing:
        workspace.seed_tables([{"full_name": name} for name in missing])
    return RunningEmulator.start(server)
