"""Serve the emulator over real HTTP, threaded, so parallel SDK calls overlap as they would in a workspace."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulator.app import EmulatorApp, EmulatorConfig, Response
from emulator.auth import DEFAULT_PRINCIPAL, DEFAULT_TOKEN, Authenticator
from emulator.errors import ErrorCodeStyle
from emulator.state import Workspace

log = logging.getLogger(__name__)


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to :class:`EmulatorApp`; keep-alive, because the SDK pools connections."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms to every call.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        response = self.server.app.handle(self.command, self.path, dict(self.headers.items()), body)
        self._write(response)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def _write(self, response: Response) -> None:
        data = b"" if response.payload is None else json.dumps(response.payload).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator.http " + format, *args)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the app its handlers call."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        super().__init__(address, EmulatorRequestHandler)
        self.app = app


@dataclass
class RunningEmulator:
    """An emulator serving in a background thread."""

    server: EmulatorHTTPServer
    thread: threading.Thread
    url: str

    @property
    def app(self) -> EmulatorApp:
        """Return the in-process app (for tests that want to reach the model directly)."""
        return self.server.app

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
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
    server = EmulatorHTTPServer((host, port), app)
    bound_host, bound_port = server.server_address[:2]
    # A wildcard bind is reachable on loopback; activation links must name a host a client can open.
    url_host = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
    url = f"http://{url_host}:{bound_port}"
    workspace.public_url = url
    missing = [name for name in seeds if name not in workspace.tables]
    if missing:
        workspace.seed_tables([{"full_name": name} for name in missing])
    thread = threading.Thread(target=server.serve_forever, name=f"emulator-{bound_port}", daemon=True)
    thread.start()
    return RunningEmulator(server=server, thread=thread, url=url)
