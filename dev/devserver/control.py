"""The base of the emulators' hooks clients: JSON calls under one path prefix, health and the ready wait."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from dev.devserver.ready import wait_until_ready


class ControlError(RuntimeError):
    """A hook call the emulator refused (bad payload, unknown object...)."""


class ControlClient:
    """Calls one emulator's test hooks, ``<url><hooks>/<route>``, with JSON in and out.

    Subclasses name their hooks prefix and error type and add the hooks of their emulator.

    Args:
        url: the emulator's base URL, e.g. ``http://127.0.0.1:8001``.
        timeout: seconds to wait for one hook call.
    """

    hooks: ClassVar[str]
    error: ClassVar[type[ControlError]] = ControlError

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, payload: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url}{self.hooks}/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise self.error(f"{method} {self.hooks}/{route}: {exc.code} {exc.read().decode()}") from exc
        return json.loads(body) if body else {}

    def health(self) -> bool:
        """Whether the emulator answers (``False`` while nothing listens or the connection fails)."""
        try:
            return self._call("GET", "health").get("status") == "ok"
        except OSError:
            return False

    def wait_ready(self, *, timeout: float, process: subprocess.Popen[Any] | None = None) -> None:
        """Return once :meth:`health` says yes; raise :class:`~dev.devserver.ready.NotReadyError` after ``timeout``
        seconds, or as soon as ``process`` (the emulator started as a child) has exited."""
        wait_until_ready(self.health, timeout=timeout, what=f"the emulator at {self.url}", process=process)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "requests")

