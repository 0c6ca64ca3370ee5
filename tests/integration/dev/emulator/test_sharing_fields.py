"""Recipient properties, OIDC federation policies, and a shared table's partitions, change data feed and start
version, through the real databricks-sdk: each as the API documents it, refused with its error code."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound, ResourceAlreadyExists
from databricks.sdk.service.sharing import (
    AuthenticationType,
    FederationPolicy,
    OidcFederationPolicy,
    Partition,
    PartitionValue,
    PartitionValueOp,
    SecurablePropertiesKvPairs,
    SharedDataObject,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dev.emulator.control import EmulatorControl

ORDERS = "sales.reporting.orders"
POLICY = FederationPolicy(name="powerbi-users", oidc_policy=OidcFederationPolicy(
    issuer="https://login.microsoftonline.com/tenant/v2.0", subject_claim="groups", subject="a1b2",
    audiences=["api://sharing"]))


@pytest.fixture
def orders(emulator: EmulatorControl) -> str:
    emulator.seed_tables([{"full_name": ORDERS, "columns": ["id", "amount"], "partition_columns": ["region"],
                           "properties": {"delta.enableChangeDataFeed": "true"}, "version": 7}])
    return ORDERS


def _update(workspace_client: WorkspaceClient, action: SharedDataObjectUpdateAction, **fields) -> list:
    obj = SharedDataObject(name=ORDERS, **fields)
    return workspace_client.shares.update("sales", updates=[SharedDataObjectUpdate(action=action, data_object=obj)])


def test_recipient_properties_are_kept_replaced_and_reserved_keys_refused(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.recipients.create(
        "acme", AuthenticationType.TOKEN, properties_kvpairs=SecurablePropertiesKvPairs({"country": "FR"}))
    assert created.properties_kvpairs.properties == {"country": "FR"}

    workspace_client.recipients.update("acme", properties_kvpairs=SecurablePropertiesKvPairs({"tier": "gold"}))
    assert workspace_client.recipients.get("acme").properties_kvpairs.properties == {"tier": "gold"}

    with pytest.raises(BadRequest) as refused:
        workspace_client.recipients.update(
            "acme", properties_kvpairs=SecurablePropertiesKvPairs({"databricks.accountId": "x"}))
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_federation_policies_belong_to_oidc_recipients(workspace_client: WorkspaceClient) -> None:
    workspace_client.recipients.create("fabrikam", AuthenticationType.OIDC_FEDERATION)
    workspace_client.recipients.create("acme", AuthenticationType.TOKEN)
    policies = workspace_client.recipient_federation_policies

    created = policies.create("fabrikam", POLICY)

    assert created.id and created.oidc_policy == POLICY.oidc_policy
    assert [p.name for p in policies.list("fabrikam")] == ["powerbi-users"]
    assert policies.get_federation_policy("fabrikam", "powerbi-users").oidc_policy.subject == "a1b2"
    with pytest.raises(ResourceAlreadyExists):
        policies.create("fabrikam", POLICY)
    with pytest.raises(BadRequest) as token_recipient:
        policies.create("acme", POLICY)
    assert token_recipient.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(BadRequest):
        policies.create("fabrikam", FederationPolicy(name="Bad_Name", oidc_policy=POLICY.oidc_policy))
    policies.delete("fabrikam", "powerbi-users")
    assert list(policies.list("fabrikam")) == []
    with pytest.raises(NotFound):
        policies.delete("fabrikam", "powerbi-users")


def test_partitions_change_data_feed_and_start_version_are_shared_and_updated(
    workspace_client: WorkspaceClient, orders: str
) -> None:
    workspace_client.shares.create("sales")
    eu = Partition(values=[PartitionValue(name="region", op=PartitionValueOp.EQUAL, value="EU")])
    by_property = Partition(values=[PartitionValue(name="region", op=PartitionValueOp.EQUAL,
                                                   recipient_property_key="region")])

    _update(workspace_client, SharedDataObjectUpdateAction.ADD, partitions=[eu], cdf_enabled=True, start_version=3,
            history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED)
    shared = workspace_client.shares.get("sales", include_shared_data=True).objects[0]
    assert (shared.partitions, shared.cdf_enabled, shared.start_version) == ([eu], True, 3)

    _update(workspace_client, SharedDataObjectUpdateAction.UPDATE, partitions=[by_property], start_version=5)
    shared = workspace_client.shares.get("sales", include_shared_data=True).objects[0]
    assert (shared.partitions, shared.start_version) == ([by_property], 5)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"partitions": [Partition(values=[PartitionValue(name="amount", value="1")])]}, "not a partition column"),
        ({"partitions": [Partition(values=[PartitionValue(name="region", value="EU",
                                                          recipient_property_key="region")])]}, "not both"),
        ({"start_version": 8, "history_data_sharing_status": SharedDataObjectHistoryDataSharingStatus.ENABLED},
         "greater than the current version 7"),
        ({"start_version": 1}, "history_data_sharing_status is ENABLED"),
    ],
)
def test_invalid_sharing_fields_are_refused(workspace_client: WorkspaceClient, orders: str, fields, says) -> None:
    workspace_client.shares.create("sales")

    with pytest.raises(BadRequest) as refused:
        _update(workspace_client, SharedDataObjectUpdateAction.ADD, **fields)

    assert refused.value.error_code == "INVALID_PARAMETER_VALUE" and says in str(refused.value)


def test_the_change_data_feed_needs_the_table_property(workspace_client: WorkspaceClient,
                                                       emulator: EmulatorControl) -> None:
    emulator.seed_tables([ORDERS])
    workspace_client.shares.create("sales")

    with pytest.raises(BadRequest, match=r"delta\.enableChangeDataFeed"):
        _update(workspace_client, SharedDataObjectUpdateAction.ADD, cdf_enabled=True)
