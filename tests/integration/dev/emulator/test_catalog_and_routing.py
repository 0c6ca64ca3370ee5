"""Tables, metastore, authentication and routing through the real databricks-sdk."""

from __future__ import annotations

import re

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import BadRequest, NotFound, Unauthenticated

from dev.emulator.control import EmulatorControl


def test_get_table_and_exists(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["Sales.Reporting.Orders"])

    table = workspace_client.tables.get("sales.reporting.ORDERS")

    assert (table.catalog_name, table.schema_name, table.name) == ("sales", "reporting", "orders")
    assert table.full_name == "sales.reporting.orders"
    assert table.table_type.value == "MANAGED"
    assert table.data_source_format.value == "DELTA"
    assert workspace_client.tables.exists("sales.reporting.orders").table_exists is True
    assert workspace_client.tables.exists("sales.reporting.nope").table_exists is False


def test_missing_tables_name_the_missing_level(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders"])
    for name, code in [
        ("sales.reporting.nope", "TABLE_DOES_NOT_EXIST"),
        ("sales.nope.x", "SCHEMA_DOES_NOT_EXIST"),
        ("nope.x.y", "CATALOG_DOES_NOT_EXIST"),
    ]:
        with pytest.raises(NotFound) as excinfo:
            workspace_client.tables.get(name)
        assert excinfo.value.error_code == code
    with pytest.raises(NotFound):
        workspace_client.tables.exists("nope.x.y")


def test_list_tables_of_a_schema(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.b", "sales.reporting.a", "sales.other.c"])
    listed = [t.full_name for t in workspace_client.tables.list(catalog_name="sales", schema_name="reporting")]
    assert listed == ["sales.reporting.a", "sales.reporting.b"]
    with pytest.raises(NotFound):
        list(workspace_client.tables.list(catalog_name="sales", schema_name="nope"))


def test_dropped_table_disappears(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders", "sales.reporting.returns"])
    emulator.drop_table("sales.reporting.orders")
    assert workspace_client.tables.exists("sales.reporting.orders").table_exists is False


def test_metastore_assignment_and_summary(workspace_client: WorkspaceClient) -> None:
    assignment = workspace_client.metastores.current()
    summary = workspace_client.metastores.summary()

    assert assignment.metastore_id == summary.metastore_id
    assert isinstance(assignment.workspace_id, int)
    assert assignment.default_catalog_name == "main"
    assert re.fullmatch(rf"azure:westeurope:{summary.metastore_id}", summary.global_metastore_id)
    assert summary.delta_sharing_scope.value == "INTERNAL_AND_EXTERNAL"


def test_api_calls_need_a_known_bearer_token(emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    stranger = WorkspaceClient(config=Config(host=emulator.url, token="wrong", auth_type="pat"))

    with pytest.raises(Unauthenticated) as excinfo:
        stranger.shares.get("x")

    assert excinfo.value.error_code == "UNAUTHENTICATED"
    assert requests.get(f"{emulator.url}/api/2.1/unity-catalog/shares", timeout=5).status_code == 401
    # Hooks, host metadata and the public activation API are outside /api auth.
    assert requests.get(f"{emulator.url}/__emulator/health", timeout=5).status_code == 200
    assert requests.get(f"{emulator.url}/.well-known/databricks-config", timeout=5).status_code == 200


def test_unknown_endpoint_is_endpoint_not_found(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(NotFound) as excinfo:
        workspace_client.api_client.do("GET", "/api/2.1/unity-catalog/volumes")
    assert excinfo.value.error_code == "ENDPOINT_NOT_FOUND"
    with pytest.raises(NotFound):
        workspace_client.api_client.do("PUT", "/api/2.1/unity-catalog/shares/x")


def test_error_bodies_carry_request_info_and_json_content_type(emulator: EmulatorControl) -> None:
    reply = requests.get(
        f"{emulator.url}/api/2.1/unity-catalog/recipients/nobody",
        headers={"Authorization": "Bearer local-dev-token"},
        timeout=5,
    )
    assert reply.status_code == 404
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert body["error_code"] == "RECIPIENT_DOES_NOT_EXIST"
    [detail] = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.RequestInfo"
    assert detail["request_id"] and detail["serving_data"] == ""


def test_malformed_json_body_is_bad_request(workspace_client: WorkspaceClient) -> None:
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.api_client.do("POST", "/api/2.1/unity-catalog/shares", data="{not json")
    assert excinfo.value.error_code == "MALFORMED_REQUEST"
