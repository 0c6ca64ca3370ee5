"""Granting shares to recipients through the real databricks-sdk."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.sharing import AuthenticationType, PermissionsChange


@pytest.fixture
def share_and_recipients(workspace_client: WorkspaceClient) -> None:
    workspace_client.shares.create(name="sales")
    for name in ("acme", "globex", "initech"):
        workspace_client.recipients.create(name=name, authentication_type=AuthenticationType.TOKEN)


@pytest.mark.usefixtures("share_and_recipients")
def test_grant_and_revoke_select(workspace_client: WorkspaceClient) -> None:
    granted = workspace_client.shares.update_permissions(
        "sales",
        changes=[
            PermissionsChange(principal="ACME", add=["SELECT"]),
            PermissionsChange(principal="globex", add=["SELECT"]),
        ],
    )
    assert [(a.principal, [p.value for p in a.privileges]) for a in granted.privilege_assignments] == [
        ("acme", ["SELECT"]),
        ("globex", ["SELECT"]),
    ]

    workspace_client.shares.update_permissions(
        "sales", changes=[PermissionsChange(principal="acme", remove=["SELECT"])]
    )

    assert [a.principal for a in workspace_client.shares.share_permissions("sales").privilege_assignments] == ["globex"]


@pytest.mark.usefixtures("share_and_recipients")
def test_granting_twice_is_idempotent_and_omit_list_returns_nothing(
    workspace_client: WorkspaceClient,
) -> None:
    change = [PermissionsChange(principal="acme", add=["SELECT"])]
    workspace_client.shares.update_permissions("sales", changes=change)
    again = workspace_client.shares.update_permissions("sales", changes=change, omit_permissions_list=True)
    assert not again.privilege_assignments
    assert len(workspace_client.shares.share_permissions("sales").privilege_assignments) == 1


@pytest.mark.usefixtures("share_and_recipients")
def test_unknown_principal_is_recipient_does_not_exist(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound) as excinfo:
        workspace_client.shares.update_permissions(
            "sales",
            changes=[
                PermissionsChange(principal="acme", add=["SELECT"]),
                PermissionsChange(principal="nobody", add=["SELECT"]),
            ],
        )
    assert excinfo.value.error_code == "RECIPIENT_DOES_NOT_EXIST"
    assert not workspace_client.shares.share_permissions("sales").privilege_assignments  # all or nothing


@pytest.mark.usefixtures("share_and_recipients")
def test_only_select_applies_to_shares(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(BadRequest):
        workspace_client.shares.update_permissions(
            "sales", changes=[PermissionsChange(principal="acme", add=["MODIFY"])]
        )


def test_permissions_of_a_missing_share(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound):
        workspace_client.shares.share_permissions("nothing")
    with pytest.raises(NotFound):
        workspace_client.shares.update_permissions("nothing", changes=[])


@pytest.mark.usefixtures("share_and_recipients")
def test_share_permissions_pages(workspace_client: WorkspaceClient) -> None:
    workspace_client.shares.update_permissions(
        "sales",
        changes=[PermissionsChange(principal=n, add=["SELECT"]) for n in ("acme", "globex", "initech")],
    )
    first = workspace_client.shares.share_permissions("sales", max_results=2)
    second = workspace_client.shares.share_permissions("sales", max_results=2, page_token=first.next_page_token)
    assert [a.principal for a in first.privilege_assignments + second.privilege_assignments] == [
        "acme",
        "globex",
        "initech",
    ]
    assert not second.next_page_token


@pytest.mark.usefixtures("share_and_recipients")
def test_deleting_a_share_drops_its_grants(workspace_client: WorkspaceClient) -> None:
    workspace_client.shares.update_permissions("sales", changes=[PermissionsChange(principal="acme", add=["SELECT"])])
    workspace_client.shares.delete("sales")
    workspace_client.shares.create(name="sales")
    assert not workspace_client.shares.share_permissions("sales").privilege_assignments
    assert not workspace_client.recipients.share_permissions("acme").permissions_out
