"""Principals by actions through the HTTP API: two tenants share one deployment and cannot reach each other.

Finance (rule `external`) works on workspace A: alice configures it, bob approves its project `Partner
analytics`; dave approves and erin configures its other project `Other`, and so see that project's packs only.
Retail works on workspace B: carol configures it. mallory is authenticated and belongs to nothing. Each test's
app runs on the suite's rolled-back session factory, so nothing is committed.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.context import Services
from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.models import AuditEntry, OutboxMessage, Project, SharePack
from shared.platform.settings import Settings
from tests.integration.access.conftest import sample
from tests.integration.api.conftest import RecordingPublisher

WS_A = "https://adb-1000000000000001.1.azuredatabricks.net"
WS_B = "https://adb-2000000000000002.2.azuredatabricks.net"
KEYS = {
    "admin": "platform-admin",
    "alice": "alice@example.com",
    "bob": "bob@example.com",
    "carol": "carol@example.com",
    "dave": "dave@example.com",
    "erin": "erin@example.com",
    "mallory": "mallory@example.com",
}


def secret(who: str) -> str:
    return f"{who}-secret-key-0123456789abcdef0123"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env(
        {
            "api_keys": ",".join(f"{name}={secret(who)}" for who, name in KEYS.items()),
            "admin_principals": "platform-admin",
            "allowed_workspace_urls": f"{WS_A},{WS_B}",
            "queue_backend": "postgres",
            "domain_db_connection_string": "postgresql://unused/unused",
            "log_format": "json",
        },
        dotenv_path=None,
    )


class _EachTestsSessions:
    """The module's one app reaches each test's rolled-back session factory through this: building an app and
    verifying its API keys (scrypt, once per key and process) per test cost more than the test itself."""

    current: sessionmaker[Session] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Session:
        assert self.current is not None
        return self.current(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)


@pytest.fixture(scope="module")
def sessions_and_app(settings) -> tuple[_EachTestsSessions, Any]:
    sessions = _EachTestsSessions()
    app = create_app(Services(settings, session_factory=sessions,  # type: ignore[arg-type]
                              publisher=RecordingPublisher(), health_check=lambda: None))
    return sessions, app


@pytest.fixture
def client(sessions_and_app, session_factory) -> Iterator[FlaskClient]:
    sessions, app = sessions_and_app
    sessions.current = session_factory
    yield app.test_client()
    sessions.current = None


@pytest.fixture(scope="module")
def tenants_connection(engine: Engine, settings) -> Iterator[Connection]:
    """One connection for the module, in a transaction rolled back at its end, holding the two tenants: written
    once, since writing them (80 statements) was half of each test's time. Each test works in a savepoint."""
    conn = engine.connect()
    outer = conn.begin()
    write_two_tenants(settings, sessionmaker(bind=conn, join_transaction_mode="create_savepoint",
                                             expire_on_commit=False))
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def session_factory(tenants_connection: Connection) -> Iterator[sessionmaker[Session]]:
    """The suite's rolled-back sessions (tests/support/postgres.py), over the module's two tenants."""
    savepoint = tenants_connection.begin_nested()
    yield sessionmaker(bind=tenants_connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    savepoint.rollback()


@pytest.fixture
def two_tenants(session_factory) -> None:
    """Finance and Retail with their groups and projects: in this module's `session_factory` already."""


def write_two_tenants(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    admin = Access(Principal.from_api_key("platform-admin", admins=frozenset({"platform-admin"})), frozenset())
    for group, members in {"fin-conf": ["alice@example.com"], "fin-appr": ["bob@example.com"],
                           "retail-conf": ["carol@example.com"], "other-appr": ["dave@example.com"],
                           "other-conf": ["erin@example.com"]}.items():
        put_local_group(session_factory, admin, group, members)
    put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec(
            "Finance",
            workspaces={"EMEA": WS_A},
            configurator_groups=["fin-conf"],
            approval_required="external",
        ),
    )
    put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec("Retail", workspaces={"AM": WS_B}, configurator_groups=["retail-conf"], approval_required="never"),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Partner analytics", approver_groups=["fin-appr"], configurator_groups=[]),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Other", approver_groups=["other-appr"], configurator_groups=["other-conf"]),
    )


def headers(who: str | None, workspace: str = WS_A) -> dict[str, str]:
    result = {"X-Workspace-URL": workspace}
    if who is not None:
        result["Authorization"] = f"Bearer {secret(who)}"
    return result


def upload(client: FlaskClient, who: str | None, content: bytes, workspace: str = WS_A, *,
           route: str = "upload") -> Any:
    return client.post(
        f"/workflow/sharepack/{route}",
        data={"file": (io.BytesIO(content), "pack.yaml")},
        headers=headers(who, workspace),
        content_type="multipart/form-data",
    )


def alices_pack(client: FlaskClient) -> str:
    response = upload(client, "alice", sample(**{"jane.doe@": "alice@"}))
    assert response.status_code == 202, response.json
    assert response.json["Status"] == "PENDING_APPROVAL"  # D2O recipient under Finance's `external` rule
    return response.json["SharePackId"]


PIPELINE = b"""
pipelines:
- name: orders_nightly
  source_table: raw.sales.orders
  target_table: sales.reporting.orders
  schedule: "30 2 * * *"
"""

ACTIONS: dict[str, Callable[[FlaskClient, str | None, str], Any]] = {
    # Each uploads as themselves; the administrator (not e-mail-shaped) uploads on Jane's behalf.
    "upload": lambda c, who, pack: upload(c, who, sample(**{"jane.doe@": f"{who}@"} if who != "admin" else {})),
    "pipelines": lambda c, who, pack: upload(
        c, who, sample(**{"jane.doe@": f"{who}@"} if who != "admin" else {}) + PIPELINE),
    "read": lambda c, who, pack: c.get(f"/workflow/sharepack/{pack}", headers=headers(who)),
    "history": lambda c, who, pack: c.get(f"/workflow/sharepack/{pack}/history", headers=headers(who)),
    "plan": lambda c, who, pack: c.get(f"/workflow/sharepack/{pack}/plan", headers=headers(who)),
    "list": lambda c, who, pack: c.get("/workflow/sharepacks", headers=headers(who)),
    "approve": lambda c, who, pack: c.post(
        f"/workflow/sharepack/{pack}/approve", json={"Comment": "fine", "Version": 1}, headers=headers(who)
    ),
    "decline": lambda c, who, pack: c.post(
        f"/workflow/sharepack/{pack}/decline", json={"Comment": "no", "Version": 1}, headers=headers(who)
    ),
    "administer": lambda c, who, pack: c.put(
        "/workflow/tenants/Marketing",
        json={"Workspaces": {"AM": WS_B}, "ConfiguratorGroups": [], "ApprovalRequired": "never"},
        headers=headers(who),
    ),
    # A revision of alice's pack (an administrator may upload it on her behalf), a rollback's preview, and a dry
    # run of the caller's own pack.
    "revise": lambda c, who, pack: upload(c, who, sample(**{"jane.doe@": "alice@"}), route=f"{pack}/upload"),
    "rollback": lambda c, who, pack: c.post(
        f"/workflow/sharepack/{pack}/rollback", json={"ToVersion": 1, "DryRun": True}, headers=headers(who)
    ),
    "validate": lambda c, who, pack: upload(
        c, who, sample(**{"jane.doe@": f"{who}@"} if who != "admin" else {}), route="validate"
    ),
    "import": lambda c, who, pack: c.post(
        "/workflow/imports",
        json={"BusinessLine": "Finance", "ProjectName": "Partner analytics", "WorkspaceUrl": WS_A,
              "Recipients": [{"Name": "legacy", "Type": "D2D"}], "Shares": []},
        headers=headers(who),
    ),
}

# Status per principal and action; "list" is 200 for everyone but shows the pack only where marked "200+".
OUTSIDE = {"upload": "403", "pipelines": "403", "read": "404", "history": "404", "plan": "404", "list": "200",
           "approve": "404", "decline": "404", "administer": "403", "import": "403", "revise": "404", "rollback": "404",
           "validate": "403"}
EXPECTED: dict[str | None, dict[str, str]] = {
    "admin": {"upload": "202", "pipelines": "202", "read": "200", "history": "200", "plan": "200", "list": "200+",
              "approve": "403", "decline": "403", "administer": "200", "import": "200", "revise": "202",
              "rollback": "200", "validate": "200"},
    "alice": {"upload": "202", "pipelines": "202", "read": "200", "history": "200", "plan": "200", "list": "200+",
              "approve": "403", "decline": "403", "administer": "403", "import": "403", "revise": "202",
              "rollback": "200", "validate": "200"},
    "bob": {"upload": "403", "pipelines": "403", "read": "200", "history": "200", "plan": "200", "list": "200+",
            "approve": "200", "decline": "200", "administer": "403", "import": "403", "revise": "403",
            "rollback": "403", "validate": "403"},
    # project-level roles of another project of the same tenant: that project's packs only
    "dave": OUTSIDE,
    "erin": OUTSIDE,
    "carol": OUTSIDE,
    "mallory": OUTSIDE,
    None: dict.fromkeys(ACTIONS, "401"),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("who", list(EXPECTED))
def test_principal_action_matrix(client, two_tenants, who, action):
    pack = alices_pack(client)
    response = ACTIONS[action](client, who, pack)
    expected = EXPECTED[who][action]
    assert response.status_code == int(expected[:3]), response.json
    if response.status_code == 403:
        # Every 403 carries a sentence naming the rule that refused it.
        assert response.json["ErrorCode"] == "FORBIDDEN" and " may " in response.json["Message"]
    if response.status_code == 404:
        assert response.json["Message"] == f"Share pack {pack} not found"  # like an unknown id
    if action == "list" and response.status_code == 200:
        listed = {p["SharePackId"] for p in response.json["SharePacks"]}
        assert (pack in listed) == expected.endswith("+")


def test_cross_tenant_read_looks_exactly_like_an_unknown_id(client, two_tenants):
    pack = alices_pack(client)
    hidden = client.get(f"/workflow/sharepack/{pack}", headers=headers("carol"))
    unknown = client.get(f"/workflow/sharepack/{uuid.uuid4()}", headers=headers("carol"))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json["ErrorCode"] == unknown.json["ErrorCode"]


def test_upload_to_another_tenants_workspace_is_403(client, two_tenants, session_factory):
    retail = sample(**{"jane.doe@": "carol@", "business_line: Finance": "business_line: Retail"})
    response = upload(client, "carol", retail, workspace=WS_A)
    assert response.status_code == 403
    assert response.json["Message"] == f"Workspace {WS_A} is not one of business line 'Retail''s workspaces"
    assert upload(client, "carol", retail, workspace=WS_B).status_code == 202  # her own workspace is fine


def test_forged_requestor_is_403_and_recorded(client, two_tenants, session_factory):
    response = upload(client, "alice", sample(**{"jane.doe@": "bob@"}))
    assert response.status_code == 403
    assert response.json["Message"].startswith("metadata.requestor must be you (alice@example.com)")
    with session_factory() as session:
        assert session.scalars(select(SharePack)).first() is None
        rejected = session.scalars(select(AuditEntry).where(AuditEntry.action == "REJECTED")).one()
        assert rejected.performed_by == "alice@example.com"


def test_self_approval_is_403_and_approval_queues_via_the_outbox(client, two_tenants, session_factory):
    pack = alices_pack(client)
    with session_factory() as session:
        assert session.scalars(select(OutboxMessage)).first() is None  # waiting: not queued
    refused = client.post(f"/workflow/sharepack/{pack}/approve", json={}, headers=headers("alice"))
    assert refused.status_code == 403
    assert refused.json["Message"] == "The requestor of a share pack may not approve or decline it"
    approved = client.post(f"/workflow/sharepack/{pack}/approve", json={"Comment": "ok"},
                           headers={**headers("bob"), "If-Match": '"1"'})  # the version's ETag names it
    assert approved.status_code == 200 and approved.json["Status"] == "IN_PROGRESS"
    with session_factory() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 1
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "APPROVED")).one()
        assert audit.performed_by == "bob@example.com"


def test_an_approver_deciding_a_version_that_is_not_the_packs_gets_409_and_nothing_is_queued(
    client, two_tenants, session_factory
):
    pack = alices_pack(client)
    for how in ({"json": {"Version": 2}}, {"json": {}, "headers": {"If-Match": '"2"'}}):
        extra = how.get("headers", {})
        stale = client.post(f"/workflow/sharepack/{pack}/approve", json=how["json"],
                            headers={**headers("bob"), **extra})
        assert stale.status_code == 409 and "now version 1, not version 2" in stale.json["Message"]
    unnamed = client.post(f"/workflow/sharepack/{pack}/approve", json={}, headers=headers("bob"))
    assert unnamed.status_code == 400 and "waits at version 1" in unnamed.json["Message"]
    with session_factory() as session:
        assert session.scalars(select(OutboxMessage)).first() is None
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "APPROVED")).first() is None


def test_a_tenant_configurator_setting_approver_groups_gets_403_and_nothing_changes(
    client, two_tenants, session_factory
):
    path = "/workflow/tenants/Finance/projects/Partner analytics"
    with session_factory() as session:
        before = session.scalars(select(Project.version).where(Project.is_current)).all()

    for approvers in (["fin-conf"], []):  # alice approves her own work, or removes the approvers
        refused = client.put(path, json={"ApproverGroups": approvers, "ConfiguratorGroups": []},
                             headers=headers("alice"))
        assert refused.status_code == 403 and "approver groups" in refused.json["Message"]

    with session_factory() as session:
        assert session.scalars(select(Project.version).where(Project.is_current)).all() == before
    kept = client.put(path, json={"ConfiguratorGroups": ["fin-conf"]}, headers=headers("alice"))
    assert kept.status_code == 200
    with session_factory() as session:
        current = select(Project).where(Project.is_current, Project.project_name == "Partner analytics")
        assert session.scalars(current).one().approver == ["fin-appr"]


def test_bad_administration_bodies_are_4xx_not_500(client, two_tenants):
    bad = [
        ("put", "/workflow/tenants/X", {"Workspaces": {"MARS": WS_A}, "ApprovalRequired": "never"}),
        ("put", "/workflow/tenants/X", {"Workspaces": {"AM": "ftp://x"}, "ApprovalRequired": "never"}),
        ("put", "/workflow/groups/g", {"Members": "not-a-list"}),
        ("put", "/workflow/tenants/Nope/projects/p", {}),
        ("post", "/workflow/imports", {"BusinessLine": "Finance"}),
        ("post", f"/workflow/sharepack/{uuid.uuid4()}/approve", {"Comment": "x" * 3000}),
    ]
    for method, path, body in bad:
        response = getattr(client, method)(path, json=body, headers=headers("admin"))
        assert 400 <= response.status_code < 500, (path, response.status_code, response.json)


def test_an_administrator_scopes_a_tenants_data_and_an_upload_outside_it_is_403(client, two_tenants, session_factory):
    body = {"Workspaces": {"EMEA": WS_A}, "ConfiguratorGroups": ["fin-conf"], "ApprovalRequired": "external",
            "ShareableScope": ["sales"], "OwnMetastores": ["azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"]}
    refused = client.put("/workflow/tenants/Finance", json=body, headers=headers("alice"))
    assert refused.status_code == 403  # a configurator cannot widen (or set) her tenant's scope
    changed = client.put("/workflow/tenants/Finance", json=body, headers=headers("admin"))
    assert changed.status_code == 200, changed.json
    assert changed.json["ShareableScope"] == ["sales"] and changed.json["OwnMetastores"] == body["OwnMetastores"]

    response = upload(client, "alice", sample(**{"jane.doe@": "alice@"}))

    assert response.status_code == 403
    assert response.json["Message"].startswith("share[1].data_objects[0]: finance.ledger.entries is outside the data "
                                               "scope of business line 'Finance', which may share only sales")
    with session_factory() as session:
        assert session.scalars(select(SharePack)).first() is None
    bad = client.put("/workflow/tenants/Finance", json={**body, "ShareableScope": ["sales.*"]},
                     headers=headers("admin"))
    assert bad.status_code == 400
