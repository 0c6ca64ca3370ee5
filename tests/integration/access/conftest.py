"""Principals, a registered tenant and its project, on the suite's rolled-back-per-test database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.platform.settings import Settings
from shared.use_cases.publishing import ViaOutbox
from shared.use_cases.submit import SubmittedSharePack, UploadRules
from shared.use_cases.transitions import Asker, Workflow

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKSPACE = "https://adb-1111111111111111.1.azuredatabricks.net"
OTHER_WORKSPACE = "https://adb-2222222222222222.2.azuredatabricks.net"
ADMIN = Principal.from_api_key("platform-admin", admins=frozenset({"platform-admin"}))
CONFIGURATOR = Principal.from_api_key("jane.doe@example.com", admins=frozenset())
APPROVER = Principal.from_api_key("approver@example.com", admins=frozenset())
OUTSIDER = Principal.from_api_key("mallory@example.com", admins=frozenset())


def sample(**replacements: str) -> bytes:
    text = (EXAMPLES / "sample_sharepack.yaml").read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text.encode()


GLOBEX_METASTORE = "azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
D2D_ONLY = b"""
metadata:
  requestor: jane.doe@example.com
  project_name: Partner analytics
  business_line: Finance
  strategy: NEW
recipient:
- name: globex_lakehouse
  type: D2D
  metastore_id: azure:westeurope:6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
share:
- name: sales_reporting
  recipients: [globex_lakehouse]
  data_objects: [sales.reporting.orders]
"""


@pytest.fixture
def settings() -> Settings:
    return Settings(allowed_workspace_urls=(WORKSPACE, OTHER_WORKSPACE))


@pytest.fixture
def access_of(session_factory: sessionmaker[Session]) -> Callable[[Principal], Access]:
    def load(principal: Principal) -> Access:
        with session_factory() as session:
            return Access.load(session, principal)

    return load


@pytest.fixture
def finance(session_factory, settings, access_of) -> None:
    """Finance (approval rule `external`) on WORKSPACE; Jane configures it, a second user approves its project."""
    admin = access_of(ADMIN)
    put_local_group(session_factory, admin, "finance-configurators", [CONFIGURATOR.identity])
    put_local_group(session_factory, admin, "finance-approvers", [APPROVER.identity])
    put_tenant(
        session_factory,
        admin,
        settings,
        TenantSpec(
            "Finance",
            workspaces={"EMEA": WORKSPACE},
            configurator_groups=["finance-configurators"],
            approval_required="external",
            own_metastores=[GLOBEX_METASTORE],  # D2D_ONLY's recipient is on Finance's own metastore: internal
        ),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec("Finance", "Partner analytics", approver_groups=["finance-approvers"], configurator_groups=[]),
    )


@pytest.fixture
def workflow(session_factory) -> Workflow:
    """The workflow as a process builds it; what it queued is in `workflow.dispatch.publish.__self__` (a list)."""
    published: list[int] = []
    return Workflow(session_factory, ViaOutbox("access-tests", published.append),
                    rules=UploadRules(max_bytes=1_000_000))


def as_(principal: Principal, workspace: str = WORKSPACE) -> Asker:
    return Asker(workspace, principal)


def published(workflow: Workflow) -> list[int]:
    return workflow.dispatch.publish.__self__  # type: ignore[attr-defined]


@pytest.fixture
def submit(workflow) -> Callable[..., SubmittedSharePack]:
    def run(principal: Principal, content: bytes, *, workspace: str = WORKSPACE) -> SubmittedSharePack:
        return workflow.submit(as_(principal, workspace), content, "pack.yaml")

    run.published = published(workflow)  # type: ignore[attr-defined]
    return run
