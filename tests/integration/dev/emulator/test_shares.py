"""Shares and their data objects through the real databricks-sdk."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
)
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dev.emulator.control import EmulatorControl
from tests.integration.dev.emulator.helpers import add, remove

ORDERS = "sales.reporting.orders"
CUSTOMERS = "sales.reporting.customers"


@pytest.fixture
def tables(emulator: EmulatorControl) -> list[str]:
    return emulator.seed_tables([ORDERS, CUSTOMERS])


def test_create_get_and_list_shares(workspace_client: WorkspaceClient) -> None:
    created = workspace_client.shares.create(name="Sales", comment="quarterly")

    assert created.name == "sales"
    assert created.comment == "quarterly"
    assert created.owner == created.created_by == "provisioner@example.com"
    assert created.created_at == created.updated_at
    assert workspace_client.shares.get("SALES").name == "sales"
    assert [s.name for s in workspace_client.shares.list_shares()] == ["sales"]


def test_duplicate_and_invalid_share_names(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    workspace_client.shares.create(name="sales")
    with pytest.raises(ResourceConflict) as excinfo:
        workspace_client.shares.create(name="SALES")
    assert excinfo.value.error_code == "SHARE_ALREADY_EXISTS"
    with pytest.raises(BadRequest) as invalid:
        workspace_client.shares.create(name="sales/eu")
    assert invalid.value.error_code == "INVALID_PARAMETER_VALUE"
    emulator.configure(error_code_style="canonical")
    with pytest.raises(ResourceAlreadyExists):
        workspace_client.shares.create(name="sales")


def test_missing_share_is_not_found(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound) as excinfo:
        workspace_client.shares.get("nothing")
    assert excinfo.value.error_code == "SHARE_DOES_NOT_EXIST"
    assert str(excinfo.value) == "Share nothing does not exist."
    with pytest.raises(NotFound):
        workspace_client.shares.update("nothing", comment="x")
    with pytest.raises(NotFound):
        workspace_client.shares.delete("nothing")


def test_add_tables_defaults_shared_as_and_objects_only_with_shared_data(
    workspace_client: WorkspaceClient, tables: list[str]
) -> None:
    workspace_client.shares.create(name="sales")

    updated = workspace_client.shares.update("sales", updates=[add(ORDERS), add("SALES.Reporting.Customers")])

    assert [(o.name, o.shared_as) for o in updated.objects] == [
        (ORDERS, "reporting.orders"),
        (CUSTOMERS, "reporting.customers"),
    ]
    orders = updated.objects[0]
    assert orders.added_at and orders.added_by == "provisioner@example.com"
    assert orders.history_data_sharing_status is SharedDataObjectHistoryDataSharingStatus.DISABLED
    assert orders.status.value == "ACTIVE"
    assert not workspace_client.shares.get("sales").objects
    assert len(workspace_client.shares.get("sales", include_shared_data=True).objects) == 2


def test_adding_an_existing_object_is_resource_already_exists(
    workspace_client: WorkspaceClient, tables: list[str]
) -> None:
    workspace_client.shares.create(name="sales")
    workspace_client.shares.update("sales", updates=[add(ORDERS)])

    with pytest.raises(ResourceAlreadyExists) as excinfo:
        workspace_client.shares.update("sales", updates=[add(CUSTOMERS), add(ORDERS)])

    assert excinfo.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert str(excinfo.value) == f"Shared Table '{ORDERS}' already exists"
    # All or nothing: the valid ADD in the same call was not applied.
    assert [o.name for o in workspace_client.shares.get("sales", include_shared_data=True).objects] == [ORDERS]


def test_the_same_table_under_another_alias_is_a_different_object(
    workspace_client: WorkspaceClient, tables: list[str]
) -> None:
    workspace_client.shares.create(name="sales")
    updated = workspace_client.shares.update("sales", updates=[add(ORDERS), add(ORDERS, shared_as="eu.orders")])
    assert sorted(o.shared_as for o in updated.objects) == ["eu.orders", "reporting.orders"]
    with pytest.raises(ResourceAlreadyExists):
        workspace_client.shares.update("sales", updates=[add(CUSTOMERS, shared_as="EU.Orders")])


def test_adding_a_missing_table_names_the_missing_level(workspace_client: WorkspaceClient, tables: list[str]) -> None:
    workspace_client.shares.create(name="sales")
    expected = {
        "sales.reporting.nope": ("TABLE_DOES_NOT_EXIST", "Table 'sales.reporting.nope' does not exist."),
        "sales.nope.orders": ("SCHEMA_DOES_NOT_EXIST", "Schema 'sales.nope' does not exist."),
        "nope.reporting.orders": ("CATALOG_DOES_NOT_EXIST", "Catalog 'nope' does not exist."),
    }
    for name, (code, message) in expected.items():
        with pytest.raises(NotFound) as excinfo:
            workspace_client.shares.update("sales", updates=[add(name)])
        assert (excinfo.value.error_code, str(excinfo.value)) == (code, message)


def test_adding_a_table_the_owner_cannot_read_is_permission_denied(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.seed_tables(["finance.ledger.entries"], owner_lacks_select=True)
    workspace_client.shares.create(name="finance")

    with pytest.raises(PermissionDenied) as excinfo:
        workspace_client.shares.update("finance", updates=[add("finance.ledger.entries")])

    assert excinfo.value.error_code == "PERMISSION_DENIED"


def test_only_unity_catalog_managed_or_external_tables_can_be_shared(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.seed_tables(["hive_metastore.default.legacy"])
    emulator.seed_tables(["sales.reporting.v_orders"], table_type="VIEW")
    workspace_client.shares.create(name="sales")

    for name in ("hive_metastore.default.legacy", "sales.reporting.v_orders"):
        with pytest.raises(BadRequest) as excinfo:
            workspace_client.shares.update("sales", updates=[add(name)])
        assert str(excinfo.value) == "Only managed or external table on Unity Catalog can be added to a share"


def test_remove_and_update_objects(workspace_client: WorkspaceClient, tables: list[str]) -> None:
    workspace_client.shares.create(name="sales")
    workspace_client.shares.update("sales", updates=[add(ORDERS), add(CUSTOMERS, shared_as="crm.customers")])

    changed = workspace_client.shares.update(
        "sales",
        updates=[
            remove(ORDERS),  # found by name: the default alias
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.UPDATE,
                data_object=SharedDataObject(
                    name=CUSTOMERS,
                    shared_as="crm.customers",
                    comment="now with history",
                    history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED,
                ),
            ),
        ],
    )

    [customers] = changed.objects
    assert (customers.shared_as, customers.comment) == ("crm.customers", "now with history")
    assert customers.history_data_sharing_status is SharedDataObjectHistoryDataSharingStatus.ENABLED
    # Removing by table name alone finds the object under its non-default alias.
    assert workspace_client.shares.update("sales", updates=[remove(CUSTOMERS)]).objects == []


def test_removing_an_object_not_in_the_share_fails(workspace_client: WorkspaceClient, tables: list[str]) -> None:
    workspace_client.shares.create(name="sales")
    with pytest.raises(NotFound) as excinfo:
        workspace_client.shares.update("sales", updates=[remove(ORDERS)])
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_two_updates_of_one_object_in_one_call_are_rejected(
    workspace_client: WorkspaceClient, tables: list[str]
) -> None:
    workspace_client.shares.create(name="sales")
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.shares.update("sales", updates=[add(ORDERS), remove(ORDERS)])
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_at_most_100_updates_per_call(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    names = emulator.seed_tables([f"bulk.data.t{i:03}" for i in range(101)])
    workspace_client.shares.create(name="bulk")

    with pytest.raises(BadRequest) as excinfo:
        workspace_client.shares.update("bulk", updates=[add(n) for n in names])
    assert str(excinfo.value) == "UpdateShare number of data objects to update exceeds limit 100"

    assert len(workspace_client.shares.update("bulk", updates=[add(n) for n in names[:100]]).objects) == 100


def test_invalid_shared_as_is_rejected(workspace_client: WorkspaceClient, tables: list[str]) -> None:
    workspace_client.shares.create(name="sales")
    for alias in ("orders", "a.b.c", "bad-name.orders"):
        with pytest.raises(BadRequest):
            workspace_client.shares.update("sales", updates=[add(ORDERS, shared_as=alias)])


def test_rename_owner_and_comment(workspace_client: WorkspaceClient) -> None:
    workspace_client.shares.create(name="sales")
    workspace_client.shares.create(name="taken")

    updated = workspace_client.shares.update("sales", new_name="Sales_EU", owner="data-team", comment="eu")

    assert (updated.name, updated.owner, updated.comment) == ("sales_eu", "data-team", "eu")
    with pytest.raises(ResourceConflict):
        workspace_client.shares.update("sales_eu", new_name="taken")
    with pytest.raises(NotFound):
        workspace_client.shares.get("sales")


def test_list_shares_pages(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    for i in range(5):
        workspace_client.shares.create(name=f"s{i}")
    emulator.clear_requests()

    names = [s.name for s in workspace_client.shares.list_shares(max_results=2)]

    assert names == [f"s{i}" for i in range(5)]
    assert len(emulator.requests(path_contains="/shares")) == 3


def test_delete_share_returns_empty_object(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    workspace_client.shares.create(name="sales")
    workspace_client.shares.delete("sales")
    assert [s.name for s in workspace_client.shares.list_shares()] == []
    assert emulator.requests(method="DELETE")[0]["status"] == 200


def test_share_names_with_spaces_are_percent_decoded_and_rejected(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    with pytest.raises(NotFound) as excinfo:
        workspace_client.shares.get("my share")
    assert str(excinfo.value) == "Share my share does not exist."
    assert emulator.requests()[-1]["path"] == "/api/2.1/unity-catalog/shares/my share"
