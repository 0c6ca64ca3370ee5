"""Serve the Graph emulator over real HTTP (threaded, keep-alive), like the workspace emulator."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dev.devserver.http import JsonHTTPServer, RunningServer
from dev.graph_emulator.app import GraphEmulatorApp
from dev.graph_emulator.directory import Directory

#: The Content-Type of Graph v1.0's JSON replies, which clients may check.
GRAPH_CONTENT_TYPE = "application/json;odata.metadata=minimal;charset=utf-8"


class RunningGraphEmulator(RunningServer[GraphEmulatorApp]):
    """A Graph emulator serving in a background thread."""


def start_graph_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    clients: Mapping[str, str] | None = None,
    redirect_uris: Mapping[str, Sequence[str]] | None = None,
    delta_page_size: int = 100,
    seed: Mapping[str, Any] | None = None,
) -> RunningGraphEmulator:
    """Start the emulator on ``host:port`` (0: a free port) and return once it accepts calls.

    Args:
        state_file: JSON file the directory is loaded from and saved to after every hook change.
        clients: ``client_id -> secret`` the token endpoint accepts (default: the local development client).
        redirect_uris: ``client_id -> URIs`` registered for sign-in, besides the console's loopback callback.
        delta_page_size: objects per delta page.
        seed: ``{"users": [...], "groups": [...]}`` loaded before the first call is served, and only into an
            empty directory: a restart keeps the changes made since (a disabled user stays disabled).
    """
    directory = Directory(state_file)
    if seed and not directory.users and not directory.groups:
        directory.seed(seed.get("users", []), seed.get("groups", []))
    app = GraphEmulatorApp(directory, clients=clients, redirect_uris=redirect_uris,
                           delta_page_size=delta_page_size)
    server = JsonHTTPServer((host, port), app, name="graph-emulator", content_type=GRAPH_CONTENT_TYPE)
    app.base_url = server.url  # Graph's links are absolute: https://learn.microsoft.com/en-us/graph/paging
    return RunningGraphEmulator.start(server)
