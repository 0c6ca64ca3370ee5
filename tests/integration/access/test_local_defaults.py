"""`make run`'s local defaults: the examples' tenant is registered once, and both local principals can work."""

from __future__ import annotations

from dev.devstack.local_defaults import ADMIN, REQUESTOR, register_local_defaults
from shared.access.admission import admit_upload
from shared.access.directory import find_tenant, tenant_workspaces
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.share_pack_file import parse_share_pack
from tests.integration.access.conftest import sample

EMULATOR = "http://127.0.0.1:8001"


def test_registered_once_and_both_principals_may_upload_the_examples(session_factory):
    assert register_local_defaults(session_factory, EMULATOR)
    assert not register_local_defaults(session_factory, EMULATOR)  # a second start changes nothing

    admin = Principal.from_api_key(ADMIN, admins=frozenset({ADMIN}))
    requestor = Principal.from_api_key(REQUESTOR, admins=frozenset({ADMIN}))
    with session_factory() as session:
        tenant = find_tenant(session, "Finance")
        assert tenant is not None and tenant_workspaces(session, tenant.tenant_id) == {"EMEA": EMULATOR}
        example = parse_share_pack(sample(), filename="x.yaml").spec
        mine = parse_share_pack(sample(**{"jane.doe@": "requestor@"}), filename="x.yaml").spec
        assert example is not None and mine is not None
        on_behalf = admit_upload(session, Access.load(session, admin), example, EMULATOR)
        own = admit_upload(session, Access.load(session, requestor), mine, EMULATOR)
    assert on_behalf.requested_by == ADMIN and not on_behalf.needs_approval
    assert own.requested_by == REQUESTOR and own.project_name == "Partner analytics"
