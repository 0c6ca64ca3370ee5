"""What a request handler may use: the process's collaborators, the caller and the workspace of this request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import current_app, g, request
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Authenticator
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.graph.validator import AdValidator
from shared.notifications.activation_links import ActivationLinkCipher
from shared.platform.db import read_only_session
from shared.platform.health import HealthReport, ReadinessReport
from shared.platform.settings import Settings
from shared.preflight import CatalogReader
from shared.provisioning.recipient_tokens import TokensFor
from shared.use_cases.publishing import Dispatch
from shared.use_cases.transitions import Asker, Workflow

HealthCheck = Callable[[], HealthReport]
"""Checks the process's dependencies (database, queue) on demand: the only user of the engine in the API."""

ReadinessCheck = Callable[[], ReadinessReport]
"""Checks the configuration that makes the API useful (`shared.platform.health.check_readiness`)."""


class Publisher(Protocol):
    """Sends a committed outbox row's message (production: `shared.queue.outbox.OutboxPublisher`)."""

    def notify(self, outbox_id: int) -> None: ...


@dataclass(frozen=True)
class Services:
    """Handed to `create_app` (the composition root) and shared by every request of the process."""

    settings: Settings
    session_factory: sessionmaker[Session]
    publisher: Publisher
    health_check: HealthCheck
    # Read-only access to workspaces (pre-flight, dry runs); None: no credentials, pre-flight is skipped.
    reader_for: Callable[[str], CatalogReader] | None = None
    readiness_check: ReadinessCheck | None = None
    # Token rotation: None when this API has no Databricks credentials or no activation_link_keys.
    recipient_tokens: TokensFor | None = None
    activation_links: ActivationLinkCipher | None = None
    # Azure AD checks at upload; None: not checked at all (the production app always has one).
    directory_validator: AdValidator | None = None
    # How a move's message is queued (`dispatch_for`); None: as an outbox row of `azure_queue_name` for `publisher`.
    dispatch: Dispatch | None = None
    # Built once by `create_app` from the above: who the caller is, and the share packs' moves (submit, ...).
    authenticator: Authenticator | None = None
    workflow: Workflow | None = None


def services() -> Services:
    return current_app.extensions["sharepack"]


def caller() -> Principal:
    return g.caller


def access() -> Access:
    """What the caller may do; their groups are read once per request."""
    if "access" not in g:
        with read_only_session(services().session_factory) as session:
            g.access = Access.load(session, g.caller)
    return g.access


def authenticate() -> None:
    """Run before every protected view: 401 unless the caller proves who they are."""
    g.caller = authenticator().authenticate(request.headers.get("Authorization"), client=request.remote_addr)


def workspace_url() -> str:
    return g.workspace_url


def authenticator() -> Authenticator:
    built = services().authenticator
    assert built is not None, "create_app builds the authenticator"
    return built


def workflow() -> Workflow:
    built = services().workflow
    assert built is not None, "create_app builds the workflow"
    return built


def asker() -> Asker:
    """This request's caller, in its workspace, as the workflow records them."""
    return Asker(workspace_url(), g.caller, g.get("request_id"))
