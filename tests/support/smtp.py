"""A real SMTP server for the suite: the same aiosmtpd server `make run` starts, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dev.devserver.ready import free_port
from dev.devstack.mailserver import MailDrop, start_mail_server


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    mailbox: MailDrop


@pytest.fixture(scope="session")
def smtp_session_server() -> Iterator[SmtpServer]:
    mailbox = MailDrop()
    port = free_port()
    controller = start_mail_server(mailbox, port=port)
    yield SmtpServer(host="127.0.0.1", port=port, mailbox=mailbox)
    controller.stop()


@pytest.fixture
def smtp_server(smtp_session_server: SmtpServer) -> SmtpServer:
    """The session's SMTP server with an empty mailbox and no pending refusals."""
    smtp_session_server.mailbox.clear()
    return smtp_session_server
