"""What `make run` registers so a new user can upload the examples at once (issue 9's local defaults).

The examples' tenant (Finance) on the emulator's workspace, its project, and two local principals:
`local-dev` (an administrator, and approver of the project) and `requestor@example.com` (a configurator of
Finance). Registered once: a database that already knows Finance is left exactly as its users changed it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shared.access.administration import put_local_group, put_project, put_tenant
from shared.access.directory import find_tenant
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.settings import Settings

ADMIN = "local-dev"
REQUESTOR = "requestor@example.com"
BUSINESS_LINE = "Finance"
PROJECT = "Partner analytics"


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
        BUSINESS_LINE,
        workspaces={"EMEA": workspace_url},
        configurator_groups=["finance-configurators"],
        # `never` keeps the first upload of the examples provisioning straight away; the README shows how
        # to switch to `external` and walk through an approval.
        approval_required="never",
    )
    put_project(
        session_factory, admin, BUSINESS_LINE, PROJECT, approver_groups=["finance-approvers"], configurator_groups=[]
    )
    return True
