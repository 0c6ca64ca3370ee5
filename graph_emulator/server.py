"""Serve the Graph emulator over real HTTP (threaded, keep-alive), like the workspace emulator."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graph_emulator.app import GraphEmulatorApp, Response
from graph_emulator.directory import Directory

log = logging.getLogger(__name__)


class GraphRequestHandler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to :class:`GraphEmulatorApp`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid delayed-ACK stalls
    server: GraphHTTPServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self._write(self.server.app.handle(self.command, self.path, dict(self.headers.items()), body))

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def _write(self, response: Response) -> None:
        data = response.body if response.body is not None else (
            b"" if response.payload is None else json.dumps(response.payload).encode())
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.payload is not None:
            self.send_header("Content-Type", "application/json;odata.metadata=minimal;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("graph_emulator.http " + format, *args)


class GraphHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the app its handlers call."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: GraphEmulatorApp) -> None:
        super().__init__(address, GraphRequestHandler)
        self.app = app


@dataclass
class RunningGraphEmulator:
    """A Graph emulator serving in a background thread."""

    server: GraphHTTPServer
    thread: threading.Thread
    url: str

    @property
    def app(self) -> GraphEmulatorApp:
        """The in-process app."""
        return self.server.app

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_graph_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    clients: Mapping[str, str] | None = None,
    delta_page_size: int = 100,
) -> RunningGraphEmulator:
    """Start the emulator on ``host:port`` (0: a free port) and return once it accepts calls.

    Args:
        state_file: JSON file the directory is loaded from and saved to after every hook change.
        clients: ``client_id -> secret`` the token endpoint accepts (default: the local development client).
        delta_page_size: objects per delta page.
    """
    app = GraphEmulatorApp(Directory(state_file), clients=clients, delta_page_size=delta_page_size)
    server = GraphHTTPServer((host, port), app)
    bound_host, bound_port = server.server_address[:2]
    url_host = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
    url = f"http://{url_host}:{bound_port}"
    app.base_url = url  # every link Graph returns is absolute (graph/paging)
    thread = threading.Thread(target=server.serve_forever, name=f"graph-emulator-{bound_port}", daemon=True)
    thread.start()
    return RunningGraphEmulator(server=server, thread=thread, url=url)
