"""What `make run` registers so a new user can upload the examples at once.

The examples' tenant (Finance) on the emulator's workspace, its project, and two local principals:
`local-dev` (an administrator, and approver of the project) and `requestor@example.com` (a configurator of
Finance). Registered once: a database that already knows Finance is left exactly as its users changed it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import (
    ProjectSpec,
    TenantSpec,
    put_local_group,
    put_project,
    put_tenant,
)
from shared.access.directory import find_tenant
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.platform.settings import Settings

ADMIN = "local-dev"
REQUESTOR = "requestor@example.com"
BUSINESS_LINE = "Finance"
PROJECT = "Partner analytics"
# The object ids of the Graph emulator's groups (`dev/devstack/graph_seed.json`): directory groups are named by id,
# never by display name, so the AD sync brings in their members.
FINANCE_CONFIGURATORS_ID = "0f3c2a51-7e1b-4c7d-9a8e-2b6d4f1a0c01"
FINANCE_APPROVERS_ID = "0f3c2a51-7e1b-4c7d-9a8e-2b6d4f1a0c02"
SHAREPACK_ADMINS_ID = "0f3c2a51-7e1b-4c7d-9a8e-2b6d4f1a0c03"


def register_local_defaults(session_factory: sessionmaker[Session], workspace_url: str) -> bool:
    """Register the examples' tenant, project and groups unless Finance exists; True if it registered them."""
    with session_factory() as session:
        if find_tenant(session, BUSINESS_LINE) is not None:
            return False
    admin = Access(Principal.from_api_key(ADMIN, admins=frozenset({ADMIN})), frozenset())
    put_local_group(session_factory, admin, "finance-configurators", [REQUESTOR])
    put_local_group(session_factory, admin, "finance-approvers", [ADMIN])
    put_tenant(
        session_factory,
        admin,
        Settings(dev_workspace_urls=(workspace_url,)),
        TenantSpec(
            BUSINESS_LINE,
            workspaces={"EMEA": workspace_url},
            configurator_groups=["finance-configurators", FINANCE_CONFIGURATORS_ID],
            # `never` keeps the first upload of the examples provisioning straight away; the README shows how
            # to switch to `external` and walk through an approval.
            approval_required="never",
        ),
    )
    put_project(
        session_factory,
        admin,
        ProjectSpec(
            BUSINESS_LINE,
            PROJECT,
            approver_groups=["finance-approvers", FINANCE_APPROVERS_ID],
            configurator_groups=[],
        ),
    )
    return True
