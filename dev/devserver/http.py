"""Serve an app over real HTTP in a background thread: threaded, so parallel clients overlap as they would
against the real service, and keep-alive, because the SDKs pool their connections."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar

log = logging.getLogger(__name__)

#: How long :meth:`RunningServer.stop` waits for the serving thread to end.
STOP_JOIN_SECONDS = 5


class Reply(Protocol):
    """What an app answers: a status, a JSON payload (``None``: empty body) and headers.

    A reply may also carry ``body``: bytes sent as they are instead of the payload (a sign-in page, say),
    with the ``Content-Type`` its headers name.
    """

    status: int
    payload: Any
    headers: dict[str, str]


class App(Protocol):
    """An emulator's request handling, free of HTTP plumbing."""

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request (``target`` is the path with its query string)."""
        ...


AppT = TypeVar("AppT", bound=App)


class JsonRequestHandler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to an :class:`App`, writing its payload as JSON."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms to every call.
    disable_nagle_algorithm = True
    server: JsonHTTPServer[Any]

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self._write(self.server.app.handle(self.command, self.path, dict(self.headers.items()), body))

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def _write(self, reply: Reply) -> None:
        raw: bytes | None = getattr(reply, "body", None)  # optional: only some apps send pages
        content_type: str | None = None
        if raw is not None:
            data = raw
        elif reply.payload is not None:
            data, content_type = json.dumps(reply.payload).encode(), self.server.content_type
        else:
            data = b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s.http " + format, self.server.name, *args)


class JsonHTTPServer(ThreadingHTTPServer, Generic[AppT]):
    """A threading HTTP server bound on construction, carrying the app its handlers call.

    Args:
        address: ``(host, port)``; port 0 picks a free one.
        app: what answers the requests.
        name: the emulator's name, in thread names and debug logs.
        content_type: the ``Content-Type`` of JSON replies.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(
        self, address: tuple[str, int], app: AppT, *, name: str, content_type: str = "application/json"
    ) -> None:
        super().__init__(address, JsonRequestHandler)
        self.app = app
        self.name = name
        self.content_type = content_type

    @property
    def url(self) -> str:
        """The base URL clients use; a wildcard bind is reachable on loopback, so links name that."""
        host, port = self.server_address[:2]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{url_host}:{port}"


@dataclass
class RunningServer(Generic[AppT]):
    """A server answering in a background thread. The socket listens from construction of the server, so a
    client may connect as soon as :meth:`start` returns. As a context manager it stops on leaving."""

    server: JsonHTTPServer[AppT]
    thread: threading.Thread
    url: str

    @classmethod
    def start(cls, server: JsonHTTPServer[AppT]) -> Self:
        """Serve ``server`` in a daemon thread named after it and its port."""
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name=f"{server.name}-{port}", daemon=True)
        thread.start()
        return cls(server=server, thread=thread, url=server.url)

    @property
    def app(self) -> AppT:
        """The in-process app (for tests that reach the model directly)."""
        return self.server.app

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=STOP_JOIN_SECONDS)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
