"""Running an emulator in the foreground, as ``python -m dev.emulator`` and ``python -m dev.graph_emulator`` do."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Protocol

#: How often the foreground loop wakes; a signal handler only runs between Python bytecodes.
WAKE_SECONDS = 1.0


class Stoppable(Protocol):
    """Something serving that can be stopped (a :class:`dev.devserver.http.RunningServer`)."""

    def stop(self) -> None:
        """Stop serving and release what it holds."""
        ...


def stop_on_signals(log: logging.Logger) -> threading.Event:
    """Install SIGTERM and SIGINT handlers that set the returned event.

    Installed before the server starts, so a signal during start-up (a long state replay) still ends in a
    clean stop rather than the default abrupt exit.
    """
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s stopping on %s", log.name, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def serve_until(stop: threading.Event, running: Stoppable) -> None:
    """Block until ``stop`` is set (see :func:`stop_on_signals`), then stop ``running``."""
    while not stop.wait(timeout=WAKE_SECONDS):
        pass
    running.stop()
