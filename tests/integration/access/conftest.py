"""Principals, a registered tenant and its project, on the suite's rolled-back-per-test database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import put_local_group, put_project, put_tenant
from shared.access.admission import admit_upload
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.settings import Settings
from shared.use_cases.submit import SubmittedSharePack, submit_share_pack

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
        "Finance",
        workspaces={"EMEA": WORKSPACE},
        configurator_groups=["finance-configurators"],
        approval_required="external",
        own_metastores=[GLOBEX_METASTORE],  # D2D_ONLY's recipient is on Finance's own metastore: internal
    )
    put_project(
        session_factory,
        admin,
        "Finance",
        "Partner analytics",
        approver_groups=["finance-approvers"],
        configurator_groups=[],
    )


@pytest.fixture
def submit(session_factory, access_of) -> Callable[..., SubmittedSharePack]:
    published: list[int] = []

    def run(principal: Principal, content: bytes, *, workspace: str = WORKSPACE) -> SubmittedSharePack:
        access = access_of(principal)
        return submit_share_pack(
            session_factory,
            content=content,
            filename="pack.yaml",
            workspace_url=workspace,
            submitted_by=principal.identity,
            queue_name="access-tests",
            max_bytes=1_000_000,
            publish=published.append,
            admit=lambda session, pack: admit_upload(session, access, pack, workspace),
        )

    run.published = published  # type: ignore[attr-defined]
    return run
