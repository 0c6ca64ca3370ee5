"""The console in a real browser: Debian's chromium, driven by Playwright, against the real app over HTTP.

One stack serves the whole browser session: the app (as `api/wsgi.py` builds it) in a thread on a fresh
PostgreSQL database, the outbox publisher on Azurite, one `python -m worker` child process and the workspace
emulator. Every test gets its own browser context (its own cookies). Screenshots go to `tests/artifacts/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, make_server

from alembic import command
from api import create_app
from api.context import Services
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES, RunningEmulator
from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.identity import CONSOLE_CLIENT_ID, CONSOLE_CLIENT_SECRET
from dev.graph_emulator.server import RunningGraphEmulator
from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.models import SharePack
from shared.notifications.activation_links import ActivationLinkCipher
from shared.platform.credentials import DatabricksCredentials
from shared.platform.db import make_engine, make_session_factory
from shared.platform.health import check_health
from shared.platform.settings import Settings
from shared.platform.status import SharePackStatus
from shared.provisioning.clients import WorkspaceClients
from shared.provisioning.recipient_tokens import RecipientTokens
from shared.queue.factory import make_queue
from shared.queue.outbox import OutboxPublisher
from tests.support.graph_emulator import GRAPH_TENANT
from tests.support.postgres import alembic_config, fresh_database_url
from tests.support.waiting import wait_for

playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The example pack's requestor (uploads must come from the requestor named in the pack), a Finance and Markets
# configurator; an approver of the Markets project; and a configurator of another tenant (Retail) only.
REQUESTOR, APPROVER, OUTSIDER = "jane.doe@example.com", "approver@example.com", "outsider@example.com"
ADMIN = "admin@example.com"  # a platform administrator (sets recertification periods)
ADMIN_KEY = "console-admin-key-0123456789abcdef0123456"
API_KEY = "console-requestor-key-0123456789abcdef01234"
APPROVER_KEY = "console-approver-key-0123456789abcdef01234"
OUTSIDER_KEY = "console-outsider-key-0123456789abcdef01234"
MARKETS, MARKETS_PROJECT = "Markets", "Market data"
# An Entra group (fixed id, seeded into the Graph emulator by the tests that sign in with Microsoft) whose
# members configure Finance: the console learns the membership from the ID token's `groups` claim.
FINANCE_ENTRA_GROUP = "0f1ace00-0000-4000-8000-00000000f1ac"
#: How long the stack's worker may take to finish the packs earlier tests left in progress (a pack takes ~1 s).
LEFTOVER_PACKS_SECONDS = 90


@dataclass
class ConsoleStack:
    base_url: str
    workspace_url: str
    emulator: EmulatorControl
    worker_log: Path
    sessions: sessionmaker[Session]
    #: The Fernet key of activation links, shared by the app, the worker and a test's mail delivery.
    activation_key: str
    graph: GraphEmulatorControl

    def url(self, path: str) -> str:
        return self.base_url + path

    def worker_log_tail(self, chars: int = 3000) -> str:
        return self.worker_log.read_text(errors="replace")[-chars:]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("chromium is not installed (make install installs it when run as root on Debian)")
    return path


@pytest.fixture(scope="session")
def console_stack(
    postgres_server_url: str,
    azurite_connection_string: str,
    workspace_emulator: RunningEmulator,
    running_graph_emulator: RunningGraphEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleStack]:
    database_url = fresh_database_url(postgres_server_url, prefix="console")
    # Bound before the app exists: the app's settings need its own URL (the Entra redirect URI).
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _not_ready, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    graph_url = running_graph_emulator.url
    command.upgrade(alembic_config(database_url), "head")
    engine = make_engine(database_url)
    env = {
        "domain_db_connection_string": database_url,
        "queue_backend": "azure",
        "azure_queue_connection_string": azurite_connection_string,
        "azure_queue_name": f"console-{uuid.uuid4().hex[:12]}",
        "api_keys": f"{REQUESTOR}={API_KEY},{APPROVER}={APPROVER_KEY},{OUTSIDER}={OUTSIDER_KEY},{ADMIN}={ADMIN_KEY}",
        "admin_principals": ADMIN,
        "dev_workspace_urls": workspace_emulator.url,
        "log_format": "json",
        # "Sign in with Microsoft" against the Graph emulator, and Graph for the group overage.
        "console_entra_client_id": CONSOLE_CLIENT_ID,
        "console_entra_client_secret": CONSOLE_CLIENT_SECRET,
        "console_entra_authority": f"{graph_url}/{GRAPH_TENANT}",
        "console_entra_redirect_uri": f"{base_url}/console/sign-in/microsoft/callback",
        "azure_tenant_id": GRAPH_TENANT,
        "graph_client_id": DEFAULT_CLIENT_ID,
        "graph_client_secret": DEFAULT_CLIENT_SECRET,
        "graph_base_url": graph_url,
        "graph_authority_host": graph_url,
    }
    settings = Settings.from_env(env, dotenv_path=None)
    queue = make_queue(settings, engine)
    queue.ensure_exists()
    sessions = make_session_factory(engine)
    _register_tenants(sessions, settings, workspace_emulator.url)
    publisher = OutboxPublisher(sessions, queue, sweep_interval=settings.outbox_relay_interval_seconds).start()
    # Read access to the workspace for the dry run's plan preview, as api/wsgi.py builds it.
    readers = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), retry_timeout_seconds=15)
    activation_key = Fernet.generate_key().decode()
    app = create_app(
        Services(
            settings,
            session_factory=sessions,
            publisher=publisher,
            health_check=partial(check_health, engine, queue),
            reader_for=readers.gateway,
            activation_links=ActivationLinkCipher([activation_key]),
            recipient_tokens=lambda url: RecipientTokens(readers.client(url)),
        ),
    )
    server.app = app
    serving = threading.Thread(target=server.serve_forever, name="console-http", daemon=True)
    serving.start()
    worker_log = tmp_path_factory.mktemp("console-worker") / "worker.log"
    worker_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_"))},
        **{k.upper(): v for k, v in env.items()},
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "ACTIVATION_LINK_KEYS": activation_key,
        "DATABRICKS_RETRY_TIMEOUT_SECONDS": "15",
        "VISIBILITY_TIMEOUT_SECONDS": "6",
        "TRANSIENT_RETRY_DELAY_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "0.2",
    }
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=worker_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield ConsoleStack(
            base_url=base_url,
            workspace_url=workspace_emulator.url,
            emulator=EmulatorControl(workspace_emulator.url),
            worker_log=worker_log,
            sessions=sessions,
            activation_key=activation_key,
            graph=GraphEmulatorControl(graph_url),
        )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.shutdown()
        publisher.stop()
        engine.dispose()


def _not_ready(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def _register_tenants(sessions: sessionmaker[Session], settings: Settings, workspace_url: str) -> None:
    """Finance provisions at once; Markets holds every pack for its project's approver; Retail is elsewhere."""
    admin = Access(Principal.from_api_key("admin", admins=frozenset({"admin"})), frozenset())
    put_local_group(sessions, admin, "configurators", [REQUESTOR])
    put_local_group(sessions, admin, "approvers", [APPROVER])
    put_local_group(sessions, admin, "retail", [OUTSIDER])
    for business_line, groups, rule in (
        ("Finance", ["configurators", FINANCE_ENTRA_GROUP], "never"),
        (MARKETS, ["configurators"], "always"),
        ("Retail", ["retail"], "never"),
    ):
        put_tenant(
            sessions,
            admin,
            settings,
            TenantSpec(
                business_line,
                workspaces={"EMEA": workspace_url},
                configurator_groups=groups,
                approval_required=rule,
            ),
        )
    put_project(
        sessions,
        admin,
        ProjectSpec(MARKETS, MARKETS_PROJECT, approver_groups=["approvers"], configurator_groups=[]),
    )


@pytest.fixture
def seeded_workspace(console_stack: ConsoleStack) -> EmulatorControl:
    """The emulator reset and holding the tables the example pack shares (other tests reset it too)."""
    emulator = reset_when_idle(console_stack)
    emulator.seed_tables(DEMO_TABLES)
    return emulator


def reset_when_idle(stack: ConsoleStack) -> EmulatorControl:
    """The stack's emulator, reset once the stack's worker has finished every pack earlier tests left in
    progress (one that checks who may see a pack, say, does not wait for it): provisioned after the reset,
    such a pack would create a later test's recipients and shares before that test's own pack ran, which
    would then have nothing to do."""
    wait_for(lambda: not _packs_in_progress(stack), timeout=LEFTOVER_PACKS_SECONDS,
             what="the packs earlier tests left in progress to finish")
    stack.emulator.reset()
    return stack.emulator


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = _chromium()
    with playwright_sync.sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox needs user namespaces, which a root container does not grant.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def _packs_in_progress(stack: ConsoleStack) -> list[str]:
    with stack.sessions() as session:
        return [str(pack_id) for pack_id in session.scalars(
            select(SharePack.share_pack_id).where(SharePack.is_current,
                                                  SharePack.share_pack_status == SharePackStatus.IN_PROGRESS))]


@dataclass
class BrowserPage:
    """A page of a fresh browser context, with the checks every journey makes."""

    page: Any
    stack: ConsoleStack
    csp_violations: list[str]

    def goto(self, path: str) -> Any:
        return self.page.goto(self.stack.url(path))

    def sign_in(self, api_key: str = API_KEY, *, succeeds: bool = True) -> None:
        self.goto("/console/sign-in")
        self.page.get_by_label("API key").fill(api_key)
        self.page.get_by_label("Databricks workspace").select_option(self.stack.workspace_url)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        if succeeds:  # wait for the next page, so the test's first action is not on the sign-in form
            playwright_sync.expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_accessible(self) -> None:
        """axe-core's WCAG 2.1 A/AA rules find nothing on the current page."""
        if not AXE_SCRIPT.is_file():
            pytest.fail("axe-core is missing: run `make install` (npm installs it)")
        # evaluate() runs in the page over the DevTools protocol, which the page's CSP does not govern.
        self.page.evaluate(AXE_SCRIPT.read_text())
        result = self.page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        problems = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
        ]
        assert problems == [], "\n".join(problems)


@pytest.fixture
def web(browser: Any, console_stack: ConsoleStack) -> Iterator[BrowserPage]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: _record_csp(message.text, violations))
    yield BrowserPage(page=page, stack=console_stack, csp_violations=violations)
    context.close()
    assert violations == [], f"the Content-Security-Policy blocked something: {violations}"


def _record_csp(text: str, violations: list[str]) -> None:
    if "Content Security Policy" in text:
        violations.append(text)


def markets_pack_yaml() -> str:
    """The example pack as the Markets business line's project asks for it, under names of its own: the
    example's names are taken by Finance's project once another journey has provisioned them."""
    from shared.share_pack_file import to_yaml
    from shared.share_pack_file.sample import sample_share_pack

    text = to_yaml(sample_share_pack()).replace("business_line: Finance", f"business_line: {MARKETS}")
    text = text.replace("project_name: Partner analytics", f"project_name: {MARKETS_PROJECT}")
    for finance_name in ("acme_analytics", "globex_lakehouse", "sales_reporting", "finance_ledger"):
        text = text.replace(finance_name, finance_name.replace("_", "_markets_", 1))
    # A metastore has one D2D recipient: Markets' partner is another metastore than Finance's.
    return text.replace("6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "7a2d0b3f-4c5e-4f60-9b0c-1d2e3f4a5b6c")
