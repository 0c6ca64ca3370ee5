"""Fidelity to the real workspace: host metadata, table listing, the metastore summary and its sharing
scope, and pagination as the databricks-sdk (0.162) drives it."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.catalog import DeltaSharingScopeEnum, GetMetastoreSummaryResponse
from databricks.sdk.service.sharing import AuthenticationType, PermissionsChange

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl, EmulatorControlError
from tests.integration.dev.emulator.helpers import D2D_SHARING_ID

HOST_METADATA_WARNING = "Failed to automatically resolve config from host metadata"


def _config(url: str) -> Config:
    return Config(host=url, token=DEFAULT_TOKEN, auth_type="pat", retry_timeout_seconds=10)


# -- host metadata --------------------------------------------------------------------------------


def test_sdk_resolves_host_metadata_without_a_warning(
    emulator: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="databricks.sdk")

    config = _config(emulator.url)

    assert HOST_METADATA_WARNING not in caplog.text
    assert config.workspace_id == str(WorkspaceClient(config=config).metastores.current().workspace_id)
    [probe] = emulator.requests(path_contains="/.well-known/databricks-config")
    assert probe["status"] == 200
    assert "authorization" not in probe["headers"], "the probe is unauthenticated"


def test_host_metadata_is_served_under_a_path_prefix_and_never_faulted(emulator: EmulatorControl) -> None:
    emulator.inject_fault(status=503, times=None)

    response = requests.get(f"{emulator.url}/some/workspace/.well-known/databricks-config", timeout=10)

    assert response.status_code == 200
    assert response.json()["cloud"] == "AZURE"
    assert response.json()["workspace_id"].isdigit()


def test_host_metadata_can_be_switched_off(emulator: EmulatorControl, caplog: pytest.LogCaptureFixture) -> None:
    emulator.configure(host_metadata=False)
    caplog.set_level(logging.WARNING, logger="databricks.sdk")

    config = _config(emulator.url)

    assert HOST_METADATA_WARNING in caplog.text
    assert config.workspace_id is None


# -- tables ---------------------------------------------------------------------------------------


def test_tables_list_follows_pages_and_empty_pages(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    names = [f"sales.reporting.t{i}" for i in range(7)]
    emulator.seed_tables([*names, "sales.other.x"])
    emulator.configure(page_size=3, empty_first_page=True)
    emulator.clear_requests()

    listed = [t.full_name for t in workspace_client.tables.list(catalog_name="sales", schema_name="reporting")]

    assert listed == names
    pages = emulator.requests(path_contains="/tables")
    # One empty page that carries a token, then 3 + 3 + 1: only an absent token ends the list.
    assert len(pages) == 4
    assert [p["query"]["max_results"] for p in pages] == ["0"] * 4
    assert "page_token" not in pages[0]["query"] and all(p["query"]["page_token"] for p in pages[1:])


def test_tables_list_omits_what_is_asked(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders"])

    [full] = workspace_client.tables.list(catalog_name="sales", schema_name="reporting")
    [slim] = workspace_client.tables.list(
        catalog_name="sales", schema_name="reporting", omit_columns=True, omit_properties=True, omit_username=True
    )

    assert full.columns and full.owner and full.created_by
    assert not slim.columns  # the SDK reads an absent list as []
    assert (slim.properties, slim.owner, slim.created_by, slim.updated_by) == (None,) * 4
    assert slim.full_name == "sales.reporting.orders"


def test_a_bad_table_spec_seeds_nothing(emulator: EmulatorControl) -> None:
    with pytest.raises(EmulatorControlError, match="INVALID_PARAMETER_VALUE"):
        emulator.seed_tables(["sales.reporting.good", "not-three-parts"])
    assert emulator.state()["tables"] == []


def test_tables_exists_is_case_insensitive(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders"])
    assert workspace_client.tables.exists("SALES.Reporting.ORDERS").table_exists is True
    with pytest.raises(NotFound) as excinfo:
        workspace_client.tables.exists("sales.nope.orders")
    assert excinfo.value.error_code == "SCHEMA_DOES_NOT_EXIST"


# -- metastore ------------------------------------------------------------------------------------


def test_metastore_summary_has_every_field_of_the_sdk_response(workspace_client: WorkspaceClient) -> None:
    summary = workspace_client.metastores.summary()

    unset = [f.name for f in dataclasses.fields(GetMetastoreSummaryResponse) if getattr(summary, f.name) is None]
    # Not modelled: no storage credential or default data access configuration exists in the emulator.
    assert sorted(unset) == [
        "default_data_access_config_id",
        "storage_root_credential_id",
        "storage_root_credential_name",
    ]
    assert summary.delta_sharing_scope == DeltaSharingScopeEnum.INTERNAL_AND_EXTERNAL
    assert summary.cloud == "azure"


def test_metastores_update_sets_the_sharing_scope(workspace_client: WorkspaceClient) -> None:
    metastore_id = workspace_client.metastores.summary().metastore_id

    updated = workspace_client.metastores.update(metastore_id, delta_sharing_scope=DeltaSharingScopeEnum.INTERNAL)

    assert updated.delta_sharing_scope == DeltaSharingScopeEnum.INTERNAL
    summary = workspace_client.metastores.summary()
    assert summary.delta_sharing_scope == DeltaSharingScopeEnum.INTERNAL
    assert summary.updated_by == "provisioner@example.com" and summary.updated_at >= summary.created_at
    assert workspace_client.metastores.get(metastore_id).delta_sharing_scope == DeltaSharingScopeEnum.INTERNAL
    with pytest.raises(NotFound):
        workspace_client.metastores.update(
            "00000000-0000-4000-8000-000000000000", delta_sharing_scope=DeltaSharingScopeEnum.INTERNAL
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"delta_sharing_scope": "EVERYONE"},
        {"delta_sharing_scope": ["INTERNAL"]},
        {"delta_sharing_recipient_token_lifetime_in_seconds": "a year"},
        {"delta_sharing_recipient_token_lifetime_in_seconds": -1},
        {"owner": ""},
        {"updated_at": 1},
    ],
)
def test_the_metastore_hook_refuses_bad_values(emulator: EmulatorControl, changes: dict[str, object]) -> None:
    before = emulator.state()["metastore"]
    with pytest.raises(EmulatorControlError, match="INVALID_PARAMETER_VALUE"):
        emulator.update_metastore(**changes)
    assert emulator.state()["metastore"] == before


def test_metastores_update_refuses_a_malformed_scope(workspace_client: WorkspaceClient) -> None:
    metastore_id = workspace_client.metastores.summary().metastore_id
    with pytest.raises(BadRequest) as excinfo:
        workspace_client.api_client.do(
            "PATCH", f"/api/2.1/unity-catalog/metastores/{metastore_id}", body={"delta_sharing_scope": {"a": 1}}
        )
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_token_recipients_need_external_sharing(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.update_metastore(delta_sharing_scope="INTERNAL")

    with pytest.raises(BadRequest) as excinfo:
        workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
    partner = workspace_client.recipients.create(
        name="partner",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_SHARING_ID,
    )

    assert excinfo.value.error_code == "FEATURE_DISABLED"
    assert str(excinfo.value) == (
        "External Delta Sharing is not enabled on the metastore. "
        "Please contact the account admin to enable External Delta Sharing."
    )
    assert partner.name == "partner"
    emulator.update_metastore(delta_sharing_scope="INTERNAL_AND_EXTERNAL")
    assert workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN).name == "acme"


# -- pagination of the sharing lists ---------------------------------------------------------------


def test_sdk_iterators_survive_an_empty_first_page(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    for i in range(5):
        workspace_client.recipients.create(name=f"r{i}", authentication_type=AuthenticationType.TOKEN)
        workspace_client.shares.create(name=f"s{i}")
    emulator.configure(page_size=2, empty_first_page=True)
    emulator.clear_requests()

    recipients = [r.name for r in workspace_client.recipients.list()]
    shares = [s.name for s in workspace_client.shares.list_shares()]

    assert recipients == [f"r{i}" for i in range(5)]
    assert shares == [f"s{i}" for i in range(5)]
    # Each list: the empty page, then 2 + 2 + 1.
    assert len(emulator.requests(path_contains="/recipients")) == 4
    assert len(emulator.requests(path_contains="/shares")) == 4


def test_permission_lists_page_one_call_at_a_time(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    workspace_client.shares.create(name="sales")
    for i in range(5):
        workspace_client.recipients.create(name=f"r{i}", authentication_type=AuthenticationType.TOKEN)
        workspace_client.shares.update_permissions(
            "sales", changes=[PermissionsChange(principal=f"r{i}", add=["SELECT"])]
        )
    emulator.configure(page_size=2, empty_first_page=True)

    principals, token, calls = [], None, 0
    while True:  # the loop the SDK leaves to its caller for this endpoint
        page = workspace_client.shares.share_permissions("sales", max_results=0, page_token=token)
        principals += [p.principal for p in page.privilege_assignments or []]
        calls += 1
        if not (token := page.next_page_token):
            break

    assert principals == [f"r{i}" for i in range(5)]
    assert calls == 4
    everything = workspace_client.shares.share_permissions("sales")  # max_results omitted: all at once
    assert len(everything.privilege_assignments) == 5 and everything.next_page_token is None


def test_bad_paging_arguments_are_invalid_parameter_value(workspace_client: WorkspaceClient) -> None:
    workspace_client.shares.create(name="sales")
    for call in (
        lambda: list(workspace_client.shares.list_shares(max_results=-1)),
        lambda: workspace_client.shares.share_permissions("sales", page_token="not-a-token"),
        lambda: list(workspace_client.recipients.list(page_token="bm90IGpzb24=")),
    ):
        with pytest.raises(BadRequest) as excinfo:
            call()
        assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
