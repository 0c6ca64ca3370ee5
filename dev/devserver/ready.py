"""Starting a local server on a known port and waiting until it answers, with a deadline."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

#: How often :func:`wait_until_ready` asks again.
READY_POLL_SECONDS = 0.05


class NotReadyError(RuntimeError):
    """A server did not answer in time, or its process exited first."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, for starting a server process on a known address."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(url: str, *, timeout: float = 2) -> bool:
    """Whether a GET of ``url`` answers 200 (``False`` while nothing listens or the connection fails)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until_ready(
    is_ready: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen[Any] | None = None
) -> None:
    """Return once ``is_ready()`` says yes; raise :class:`NotReadyError` naming ``what`` after ``timeout``
    seconds, or as soon as ``process`` (the server started as a child) has exited."""
    deadline = time.monotonic() + timeout
    while not is_ready():
        if process is not None and process.poll() is not None:
            raise NotReadyError(f"{what} exited with {process.returncode} during start")
        if time.monotonic() >= deadline:
            raise NotReadyError(f"{what} did not answer within {timeout} s")
        time.sleep(READY_POLL_SECONDS)
