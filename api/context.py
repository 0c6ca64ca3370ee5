"""What a request handler may use: the process's services, the caller and the workspace of this request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Authenticator, Caller
from shared.queue.interface import MessageQueue
from shared.queue.outbox import OutboxPublisher
from shared.settings import Settings


@dataclass
class Services:
    """Built once per process by `create_app` (the composition root)."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    queue: MessageQueue
    publisher: OutboxPublisher
    authenticator: Authenticator


def services() -> Services:
    return current_app.extensions["sharepack"]


def caller() -> Caller:
    return g.caller


def workspace_url() -> str:
    return g.workspace_url
