"""Before `make run` starts anything: every port it needs must be free, or it names the port and its holder.

Otherwise half a stack would start, the process that lost the port would exit, and the stack would stop
again with a bind error buried in the output of six processes.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

import psutil


def taken_ports(ports: Mapping[str, int], host: str = "127.0.0.1") -> list[str]:
    """One line per port of `ports` (what uses it -> port) that cannot be bound, saying who holds it."""
    problems = []
    for purpose, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind((host, port))
                continue
            except OSError:
                pass
        problems.append(f"port {port} ({purpose}) is in use by {holder_of(port)}")
    return problems


def holder_of(port: int) -> str:
    """The process listening on `port`, as `pid 123 (python -m dev.emulator ...)`, as far as we may see it."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return "a process this user cannot see"
    for connection in connections:
        if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
            if connection.pid is None:
                return "a process of another user"
            try:
                process = psutil.Process(connection.pid)
                command = " ".join(process.cmdline()) or process.name()
            except psutil.Error:
                return f"pid {connection.pid}"
            return f"pid {connection.pid} ({command[:120]})"
    return "another process (not listening: a connection still holds it)"
