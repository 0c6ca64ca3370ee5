"""Recipients through the real databricks-sdk: create/get/list/update/delete, tokens and activation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import BadRequest, NotFound, ResourceAlreadyExists, ResourceConflict
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    PermissionsChange,
    SecurablePropertiesKvPairs,
)

from dev.emulator.control import EmulatorControl
from dev.emulator.server import RunningEmulator
from tests.integration.dev.emulator.helpers import D2D_SHARING_ID


def test_token_recipient_gets_an_activation_link_and_full_info(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    created = workspace_client.recipients.create(
        name="Acme",
        authentication_type=AuthenticationType.TOKEN,
        comment="open sharing",
        ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24", "198.51.100.7"]),
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"env": "prod"}),
    )

    assert created.name == "acme"
    assert created.authentication_type is AuthenticationType.TOKEN
    assert created.activated is False
    assert created.id and created.created_at and created.updated_at
    assert created.created_by == created.updated_by == created.owner == "provisioner@example.com"
    assert created.ip_access_list.allowed_ip_addresses == ["203.0.113.0/24", "198.51.100.7"]
    assert created.properties_kvpairs.properties == {"env": "prod"}
    [token] = created.tokens
    assert token.id and token.expiration_time > time.time() * 1000
    assert token.activation_url == created.activation_url
    assert created.activation_url.startswith(f"{emulator.url}/delta_sharing/retrieve_config.html?")
    assert workspace_client.recipients.get("ACME").as_dict() == created.as_dict()


def test_explicit_expiration_time_is_the_token_expiry(workspace_client: WorkspaceClient) -> None:
    expires = int(time.time() * 1000) + 3_600_000
    created = workspace_client.recipients.create(
        name="acme", authentication_type=AuthenticationType.TOKEN, expiration_time=expires
    )
    assert created.expiration_time == expires
    assert created.tokens[0].expiration_time == expires


def test_activation_link_works_exactly_once(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    activation_token = created.activation_url.split("?", 1)[1]

    workspace_client.recipient_activation.get_activation_url_info(activation_token)
    credential = workspace_client.recipient_activation.retrieve_token(activation_token)

    assert credential.share_credentials_version == 1
    assert credential.bearer_token
    assert credential.endpoint.endswith(
        f"/api/2.0/delta-sharing/metastores/{workspace_client.metastores.summary().metastore_id}"
    )
    with pytest.raises(NotFound):
        workspace_client.recipient_activation.retrieve_token(activation_token)
    after = workspace_client.recipients.get("acme")
    assert after.activated is True
    assert after.activation_url == ""
    assert after.tokens[0].activation_url in ("", None)


def test_activation_endpoints_need_no_bearer_token(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    created = workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    activation_token = created.activation_url.split("?", 1)[1]

    reply = requests.get(
        f"{emulator.url}/api/2.1/unity-catalog/public/data_sharing_activation/{activation_token}", timeout=5
    )

    assert reply.status_code == 200
    assert reply.json()["bearerToken"]


def test_rotate_token_keeps_at_most_two_active_tokens(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    old_expiry = created.tokens[0].expiration_time

    rotated = workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=3600)

    assert len(rotated.tokens) == 2
    assert rotated.tokens[0].expiration_time < old_expiry
    assert rotated.tokens[1].activation_url == rotated.activation_url != created.activation_url
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=0)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(excinfo.value) == "There are already two active tokens for recipient acme"


def test_rotate_with_zero_expires_the_old_link(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    old_token = created.activation_url.split("?", 1)[1]

    workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=0)

    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipient_activation.retrieve_token(old_token)
    assert excinfo.value.error_code == "INVALID_STATE"
    # The expired token no longer counts: a third rotation is allowed.
    assert len(workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=0).tokens) == 3


def test_rotate_token_rejects_negative_seconds_and_d2d_recipients(workspace_client: WorkspaceClient) -> None:
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    workspace_client.recipients.create(
        name="partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID,
    )
    with pytest.raises(BadRequest):
        workspace_client.recipients.rotate_token("acme", existing_token_expire_in_seconds=-1)
    with pytest.raises(BadRequest):
        workspace_client.recipients.rotate_token("partner", existing_token_expire_in_seconds=0)
    with pytest.raises(NotFound):
        workspace_client.recipients.rotate_token("nobody", existing_token_expire_in_seconds=0)


def test_d2d_recipient_resolves_its_sharing_identifier(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.recipients.create(
        name="Partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID.upper().replace("AZURE", "azure"),
        sharing_code="one-time",
    )

    assert created.name == "partner"
    assert created.data_recipient_global_metastore_id == D2D_SHARING_ID
    assert (created.cloud, created.region) == ("azure", "westeurope")
    assert created.metastore_id == D2D_SHARING_ID.rsplit(":", 1)[1]
    assert created.activated is True
    assert not created.tokens and not created.activation_url


@pytest.mark.parametrize("sharing_id", ["not-an-id", "azure:westeurope", "mars:westeurope:123", "azure::x"])
def test_d2d_recipient_with_malformed_sharing_identifier_is_rejected(
    workspace_client: WorkspaceClient, sharing_id: str
) -> None:
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipients.create(
            name="partner",
            authentication_type=AuthenticationType.DATABRICKS,
            data_recipient_global_metastore_id=sharing_id,
        )
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Cannot resolve target shard" in str(excinfo.value)


def test_d2d_recipient_needs_a_sharing_identifier(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(BadRequest):
        workspace_client.recipients.create(name="partner", authentication_type=AuthenticationType.DATABRICKS)


def test_one_d2d_recipient_per_sharing_identifier(workspace_client: WorkspaceClient) -> None:
    workspace_client.recipients.create(
        name="partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID,
    )
    with pytest.raises(ResourceConflict) as excinfo:
        workspace_client.recipients.create(
            name="partner2",
            authentication_type=AuthenticationType.DATABRICKS,
            data_recipient_global_metastore_id=D2D_SHARING_ID,
        )
    assert str(excinfo.value).startswith("There is already a Recipient object 'partner'")


def test_duplicate_recipient_is_a_conflict_in_both_error_styles(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)

    with pytest.raises(ResourceConflict) as specific:
        workspace_client.recipients.create(name="ACME", authentication_type=AuthenticationType.TOKEN)
    emulator.configure(error_code_style="canonical")
    with pytest.raises(ResourceAlreadyExists) as canonical:
        workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)

    assert specific.value.error_code == "RECIPIENT_ALREADY_EXISTS"
    assert not isinstance(specific.value, ResourceAlreadyExists)
    assert canonical.value.error_code == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize("name", ["", "a.b", "with space", "x" * 256, "tab\tname"])
def test_invalid_recipient_names_are_rejected(workspace_client: WorkspaceClient, name: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipients.create(name=name, authentication_type=AuthenticationType.TOKEN)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_invalid_ip_access_list_is_rejected(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(BadRequest):
        workspace_client.recipients.create(
            name="acme",
            authentication_type=AuthenticationType.TOKEN,
            ip_access_list=IpAccessList(allowed_ip_addresses=["300.1.1.1"]),
        )
    with pytest.raises(BadRequest):
        workspace_client.recipients.create(
            name="acme",
            authentication_type=AuthenticationType.TOKEN,
            ip_access_list=IpAccessList(allowed_ip_addresses=[f"10.0.0.{i}" for i in range(101)]),
        )


def test_unknown_recipient_is_not_found(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound) as excinfo:
        workspace_client.recipients.get("nobody")
    assert excinfo.value.error_code == "RECIPIENT_DOES_NOT_EXIST"
    assert str(excinfo.value) == "Recipient 'nobody' does not exist."


def test_update_clears_ip_list_and_replaces_properties(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    workspace_client.recipients.create(
        name="acme",
        authentication_type=AuthenticationType.TOKEN,
        ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24"]),
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"env": "prod", "team": "a"}),
    )

    workspace_client.recipients.update(
        "acme",
        comment="updated",
        ip_access_list=IpAccessList(allowed_ip_addresses=[]),
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"team": "b"}),
    )

    [patch] = emulator.requests(method="PATCH", path_contains="/recipients/acme")
    assert patch["body"]["ip_access_list"] == {}
    after = workspace_client.recipients.get("acme")
    assert after.ip_access_list is None
    assert after.properties_kvpairs.properties == {"team": "b"}
    assert after.comment == "updated"
    assert after.updated_at >= after.created_at


def test_rename_moves_grants_with_the_recipient(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    workspace_client.recipients.create(name="other", authentication_type=AuthenticationType.TOKEN)
    workspace_client.shares.create(name="sales")
    workspace_client.shares.update_permissions("sales", changes=[PermissionsChange(principal="acme", add=["SELECT"])])

    workspace_client.recipients.update("acme", new_name="Acme_Corp")
    with pytest.raises(ResourceConflict):
        workspace_client.recipients.update("acme_corp", new_name="other")

    assert workspace_client.shares.share_permissions("sales").privilege_assignments[0].principal == "acme_corp"
    with pytest.raises(NotFound):
        workspace_client.recipients.get("acme")


def test_list_recipients_pages_and_filters(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    for i in range(7):
        workspace_client.recipients.create(name=f"r{i}", authentication_type=AuthenticationType.TOKEN)
    workspace_client.recipients.create(
        name="partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID,
    )
    emulator.clear_requests()

    all_at_once = [r.name for r in workspace_client.recipients.list()]
    paged = [r.name for r in workspace_client.recipients.list(max_results=3)]
    filtered = [r.name for r in workspace_client.recipients.list(data_recipient_global_metastore_id=D2D_SHARING_ID)]

    assert all_at_once == paged == sorted(["partner", *(f"r{i}" for i in range(7))])
    assert filtered == ["partner"]
    assert len(emulator.requests(method="GET", path_contains="/recipients")) == 1 + 3 + 1


def test_server_side_page_size_applies_when_the_client_sends_zero(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.configure(page_size=2)
    for i in range(5):
        workspace_client.recipients.create(name=f"r{i}", authentication_type=AuthenticationType.TOKEN)
    emulator.clear_requests()

    names = [r.name for r in workspace_client.recipients.list()]

    assert names == [f"r{i}" for i in range(5)]
    assert [e["query"].get("max_results") for e in emulator.requests()] == ["0", "0", "0"]


def test_delete_recipient_returns_empty_object_and_drops_grants(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    workspace_client.shares.create(name="sales")
    workspace_client.shares.update_permissions("sales", changes=[PermissionsChange(principal="acme", add=["SELECT"])])

    workspace_client.recipients.delete("acme")

    [delete] = emulator.requests(method="DELETE")
    assert delete["status"] == 200
    assert not workspace_client.shares.share_permissions("sales").privilege_assignments
    with pytest.raises(NotFound):
        workspace_client.recipients.delete("acme")


def test_recipient_share_permissions_lists_granted_shares(workspace_client: WorkspaceClient) -> None:
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    for share in ("b_share", "a_share", "c_share"):
        workspace_client.shares.create(name=share)
    for share in ("b_share", "a_share"):
        workspace_client.shares.update_permissions(share, changes=[PermissionsChange(principal="acme", add=["SELECT"])])

    result = workspace_client.recipients.share_permissions("acme")
    first_page = workspace_client.recipients.share_permissions("acme", max_results=1)

    assert [p.share_name for p in result.permissions_out] == ["a_share", "b_share"]
    assert result.permissions_out[0].privilege_assignments[0].principal == "acme"
    assert [p.share_name for p in first_page.permissions_out] == ["a_share"]
    assert first_page.next_page_token
    with pytest.raises(NotFound):
        workspace_client.recipients.share_permissions("nobody")


def test_delta_sharing_disabled_on_the_metastore(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.update_metastore(delta_sharing_scope="INTERNAL")
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    assert excinfo.value.error_code == "FEATURE_DISABLED"


def test_expiration_time_in_the_past_is_rejected(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(BadRequest):
        workspace_client.recipients.create(
            name="acme",
            authentication_type=AuthenticationType.TOKEN,
            expiration_time=int(time.time() * 1000) - 1,
        )


def test_two_workspaces_are_independent(
    workspace_client: WorkspaceClient, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    other = emulator_factory()
    other_client = WorkspaceClient(config=Config(host=other.url, token="local-dev-token", auth_type="pat"))
    workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)

    assert [r.name for r in other_client.recipients.list()] == []
    assert other_client.metastores.summary().metastore_id != workspace_client.metastores.summary().metastore_id
