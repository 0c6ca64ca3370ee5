"""A local SMTP server (aiosmtpd) that keeps every message: one `.eml` file each and one console line each.

`make run` starts it on 127.0.0.1:8025 with the files in `.local/mail/`; the test suite runs the same server
(`tests/support/smtp.py`) and asserts on what it received. Run alone: `python -m dev.devstack.mailserver`.
"""

from __future__ import annotations

import argparse
import email
import signal
import sys
import threading
import time
from collections import deque
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MailDrop:
    """aiosmtpd handler: store each accepted message; `refuse_next` makes the next DATA replies fail."""

    def __init__(self, directory: Path | None = None, *, echo: bool = False) -> None:
        self.directory = directory
        self.echo = echo
        self.messages: list[EmailMessage] = []
        self._refusals: deque[str] = deque()
        self._received = threading.Condition()
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next `count` messages with `reply` instead of accepting them."""
        with self._received:
            self._refusals.extend([reply] * count)

    def clear(self) -> None:
        with self._received:
            self.messages.clear()
            self._refusals.clear()

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (AssertionError after `timeout` seconds)."""
        with self._received:
            if not self._received.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self._received:
            if self._refusals:
                return self._refusals.popleft()
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if self.directory:
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{len(list(self.directory.glob('*.eml'))) + 1:05d}.eml"
            (self.directory / name).write_bytes(envelope.content)
        if self.echo:
            print(f"mail: to {', '.join(envelope.rcpt_tos)}: {message['Subject']}", flush=True)
        with self._received:
            self.messages.append(message)
            self._received.notify_all()
        return "250 Message accepted for delivery"


def start_mail_server(handler: MailDrop, *, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the server in a background thread; stop it with `.stop()`."""
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--directory", type=Path, default=Path(".local/mail"))
    args = parser.parse_args(argv)
    controller = start_mail_server(MailDrop(args.directory, echo=True), host=args.host, port=args.port)
    print(f"mail: SMTP server on {args.host}:{args.port}, messages in {args.directory}/", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
