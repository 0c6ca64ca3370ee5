"""A closed-loop HTTP/1.1 load generator: N keep-alive clients, each sending its next request as soon as it has
read the last answer, for a fixed time; one thread and a selector for all of them.

Why not a thread per client with `http.client`, as before: on the 2-core machine the benchmarks run on, that
client took 0.34 ms of CPU per upload (its headers go through `email.parser`; this one takes 0.14 ms), taken
from the server it measures; and its 16 threads took turns at one GIL, so an answer that had arrived could
wait for its thread before its time was taken. Here a request is bytes built once, and
an answer is read as far as its status and `Content-Length`. A connection the server closes (gunicorn closes
a kept-alive one when too many others wait idle, see `api/gunicorn.conf.py`) is opened again, as `http.client`
did, and that request's time includes the reconnection.
"""

from __future__ import annotations

import selectors
import socket
import statistics
import time
from dataclasses import dataclass, field


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """One HTTP/1.1 request with a keep-alive connection, as bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive",
             *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@dataclass
class _Client:
    port: int
    sock: socket.socket | None = None
    started: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)
    needed: int | None = None  # bytes of the whole answer, once its headers are in
    status: int = 0
    closes: bool = False

    def connect(self) -> socket.socket:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def answered(self) -> bool:
        """Whether the buffer holds the whole answer (status and headers parsed on the way)."""
        if self.needed is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            self.status = int(head[0].split(" ", 2)[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            self.closes = fields.get("connection", "").lower() == "close"
            self.needed = end + 4 + int(fields.get("content-length", "0"))
        return len(self.buffer) >= self.needed


def load(port: int, *, method: str, path: str, body: bytes | None, headers: dict[str, str], clients: int,
         seconds: float) -> dict:
    """Run `clients` keep-alive connections for `seconds`; return the count, rate, p50, p99 and the statuses."""
    request = request_bytes(method, path, headers, body)
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    def send(client: _Client) -> None:
        client.buffer.clear()
        client.needed = None
        client.started = time.perf_counter()
        sock = client.sock or client.connect()
        sock.sendall(request)
        selector.register(sock, selectors.EVENT_READ, client)

    started = time.perf_counter()
    for _ in range(clients):
        send(_Client(port))
    open_clients = clients
    while open_clients:
        events = selector.select(timeout=30)
        if not events:
            raise TimeoutError(f"no answer on any of {open_clients} connections for 30 s")
        for key, _ in events:
            client: _Client = key.data
            sock = client.sock
            assert sock is not None
            chunk = sock.recv(65536)
            if chunk:
                client.buffer += chunk
                if not client.answered():
                    continue
            elif client.needed is None or len(client.buffer) < client.needed:
                raise ConnectionError(f"the server closed a connection mid-answer: {bytes(client.buffer[:200])!r}")
            selector.unregister(sock)
            latencies.append(time.perf_counter() - client.started)
            statuses[client.status] = statuses.get(client.status, 0) + 1
            if client.closes or not chunk:
                sock.close()
                client.sock = None
            if time.perf_counter() < deadline:
                send(client)
            else:
                if client.sock is not None:
                    client.sock.close()
                open_clients -= 1
    elapsed = time.perf_counter() - started
    selector.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,
    }
