"""The inventory lists an estate made behind the service's back; exported, imported and uploaded back as an
UPDATE by the adopting project, it plans nothing. Attackers see and export nothing that is not theirs."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from databricks.sdk.service.sharing import SharedDataObjectDataObjectType
from flask.testing import FlaskClient

from dev.emulator.control import EmulatorControl
from shared.models import Pipeline
from shared.models.history import History
from shared.provisioning.diff import make_plan
from shared.provisioning.sharing_diff import desired_object
from shared.share_pack_file import parse_share_pack
from shared.use_cases.inventory import UNKNOWN_CONTACT, UNMANAGED
from tests.integration.inventory.conftest import GLOBEX as GLOBEX_ID
from tests.integration.inventory.conftest import add

ALL = {"Shares": ["sales", "ledger"], "Recipients": ["acme", "fabrikam", "globex"]}


def names(response: Any, key: str) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["Name"] for item in response.json[key]]


def adopt(api: FlaskClient, as_, emulator: EmulatorControl) -> None:
    response = api.post("/workflow/imports", headers=as_("tester"), json={
        "BusinessLine": "Finance", "ProjectName": "Adopters", "WorkspaceUrl": emulator.url,
        "Recipients": [{"Name": "acme", "Type": "D2O"}, {"Name": "fabrikam", "Type": "D2O"},
                       {"Name": "globex", "Type": "D2D"}],
        "Shares": ["sales", "ledger"],
    })
    assert response.status_code == 200, response.json


def export(api: FlaskClient, headers: dict[str, str], fmt: str, body: dict[str, Any] = ALL) -> tuple[bytes, Any]:
    response = api.post("/workflow/inventory/export", headers=headers, json={**body, "Format": fmt})
    assert response.status_code == 200, response.json
    answer = response.json
    content = base64.b64decode(answer["Content"]) if fmt == "xlsx" else answer["Content"].encode()
    return content, answer


def post_file(api: FlaskClient, route: str, headers: dict[str, str], content: bytes, filename: str) -> Any:
    return api.post(f"/workflow/sharepack/{route}", headers=headers, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(content), filename)})


def test_the_administrator_sees_the_whole_estate_unmanaged_with_every_field(api, as_, estate):
    shares = api.get("/workflow/inventory/shares", headers=as_("tester"))
    recipients = api.get("/workflow/inventory/recipients", headers=as_("tester"))

    assert names(shares, "Shares") == ["ledger", "sales"]
    sales = shares.json["Shares"][1]
    assert sales["Project"] == UNMANAGED and sales["SharePackId"] is None
    assert sales["Grantees"] == ["acme", "globex"] and sales["Comment"] == "Sales for partners"
    assert {(o["Name"], o["Type"], o["SharedAs"], o["History"]) for o in sales["Objects"]} == {
        ("sales.reporting.orders", "TABLE", "reporting.orders", True),
        ("sales.reporting.returns", "TABLE", "partner.returns", False),
        ("sales.reporting.v_orders", "VIEW", "reporting.v_orders", False),
        ("sales.reporting.landing", "VOLUME", "reporting.landing", False),
        ("sales.reporting.churn", "MODEL", None, False),
    }
    assert names(recipients, "Recipients") == ["acme", "fabrikam", "globex"]
    acme, _, globex = recipients.json["Recipients"]
    assert acme["AuthenticationType"] == "TOKEN" and acme["Activated"] is False
    assert acme["AllowedIps"] == ["198.51.100.7", "203.0.113.0/24"] and acme["Shares"] == ["sales"]
    assert globex["AuthenticationType"] == "DATABRICKS" and globex["MetastoreId"] == GLOBEX_ID
    assert globex["Shares"] == ["ledger", "sales"] and globex["Project"] == UNMANAGED


def test_listings_page_filter_by_project_and_search_by_name(api, as_, estate, emulator):
    adopt(api, as_, emulator)

    first = api.get("/workflow/inventory/shares?page_size=1", headers=as_("tester"))
    second = api.get("/workflow/inventory/shares?page_size=1&page=2", headers=as_("tester"))
    searched = api.get("/workflow/inventory/recipients?search=GLOB", headers=as_("tester"))
    owned = api.get("/workflow/inventory/shares?project=adopters", headers=as_("tester"))
    unowned = api.get("/workflow/inventory/shares?project=UNMANAGED", headers=as_("tester"))

    assert names(first, "Shares") == ["ledger"] and first.json["Total"] == 2
    assert names(second, "Shares") == ["sales"] and second.json["Page"] == 2
    assert names(searched, "Recipients") == ["globex"]
    assert names(owned, "Shares") == ["ledger", "sales"]
    assert owned.json["Shares"][0]["Project"] == "Adopters" and owned.json["Shares"][0]["BusinessLine"] == "Finance"
    assert names(unowned, "Shares") == []


@pytest.mark.parametrize(("fmt", "filename"), [("yaml", "pack.yaml"), ("xlsx", "pack.xlsx")])
def test_an_adopted_estate_exported_and_uploaded_back_as_an_update_plans_nothing(
    api, as_, estate, emulator, clients, fmt, filename
):
    adopt(api, as_, emulator)
    ann = as_("ann@example.com")
    assert names(api.get("/workflow/inventory/shares", headers=ann), "Shares") == ["ledger", "sales"]

    content, answer = export(api, ann, fmt)
    dry_run = post_file(api, "validate", ann, content, filename)
    upload = post_file(api, "upload", ann, content, filename)

    assert answer["FileName"].endswith(f".{fmt}")
    assert dry_run.status_code == 200, dry_run.json
    assert dry_run.json["Valid"] is True, dry_run.json["ValidationErrors"]
    plan = dry_run.json["Plan"]
    assert plan["strategy"] == "UPDATE" and plan["conflicts"] == []
    assert plan["steps"] and all(changes == [] for changes in plan["steps"].values()), plan["steps"]
    assert upload.status_code == 202, upload.json
    # Exactly as they are: even the plan that restores comments and IP lists as written changes nothing.
    spec = parse_share_pack(content, filename=filename).spec
    assert spec is not None
    gateway = clients.gateway(emulator.url)
    assert make_plan(spec, gateway.read_state(spec), exact=True).is_empty
    # ...and the fields a plan leaves alone when unset (history, aliases) are written as they are, too.
    listed = api.get("/workflow/inventory/shares", headers=ann).json["Shares"]
    for share in spec.shares:
        seen = next(s for s in listed if s["Name"] == share.name)
        assert {(o.name, str(o.type), desired_object(o).alias, bool(o.history)) for o in share.data_objects} == {
            (o["Name"], o["Type"], o["SharedAs"], o["History"]) for o in seen["Objects"]}
    # The sharing fields travel: properties, OIDC federation, partitions, change data feed, start version.
    acme, fabrikam = (next(r for r in spec.recipients if r.name == name) for name in ("acme", "fabrikam"))
    assert acme.properties == {"country": "FR", "tier": "gold"}
    assert str(fabrikam.authentication) == "oidc_federation" and fabrikam.federation_policies[0].subject == "g-1"
    orders = next(o for s in spec.shares for o in s.data_objects if o.name == "sales.reporting.orders")
    assert (orders.partitions[0][0].recipient_property, orders.cdf_enabled, orders.start_version) == (
        "country", True, 2)
    # Nothing dropped silently: the one field Databricks does not keep is named.
    assert any(UNKNOWN_CONTACT in w and "acme" in w for w in answer["Warnings"])


def test_a_grantee_is_declared_with_its_share_and_unsupported_objects_are_named(
    api, as_, estate, emulator, workspace_client
):
    emulator.seed_tables(["sales.reporting.daily"], table_type="MATERIALIZED_VIEW")


    workspace_client.shares.update("ledger", updates=[
        add("sales.reporting.daily", SharedDataObjectDataObjectType.MATERIALIZED_VIEW)])

    content, answer = export(api, as_("tester"), "yaml", {"Shares": ["ledger"]})

    text = content.decode()
    assert "globex" in text and GLOBEX_ID in text  # granted, so declared
    assert "sales.reporting.daily" not in text
    assert any("sales.reporting.daily" in w and "MATERIALIZED_VIEW" in w for w in answer["Warnings"])
    assert any("UNMANAGED" in w for w in answer["Warnings"])


def test_a_pipeline_feeding_an_exported_share_is_named_not_dropped(api, as_, estate, emulator, session_factory):
    with session_factory.begin() as session:
        History(session, Pipeline).create(created_by="worker", workspace_url=emulator.url,
                                          pipeline_name="orders_nightly", source_table="raw.sales.orders",
                                          target_table="sales.reporting.orders")

    content, answer = export(api, as_("tester"), "yaml", {"Shares": ["sales"]})

    assert "orders_nightly" not in content.decode()
    assert any("orders_nightly" in w and "sales.reporting.orders" in w for w in answer["Warnings"])


def test_a_rival_configurator_neither_sees_nor_exports_another_projects_estate(api, as_, estate, emulator):
    adopt(api, as_, emulator)
    rita = as_("rita@example.com")

    shares = api.get("/workflow/inventory/shares", headers=rita)
    recipients = api.get("/workflow/inventory/recipients?search=acme", headers=rita)
    stolen = api.post("/workflow/inventory/export", headers=rita, json={"Shares": ["sales"]})
    probed = api.post("/workflow/inventory/export", headers=rita, json={"Recipients": ["nonexistent"]})

    assert names(shares, "Shares") == [] and shares.json["Total"] == 0
    assert names(recipients, "Recipients") == []
    assert stolen.status_code == 404 and "sales" in stolen.json["Message"]
    assert "Content" not in stolen.json
    assert probed.status_code == 404
    assert stolen.json["Message"].replace("Share 'sales'", "X") == probed.json["Message"].replace(
        "Recipient 'nonexistent'", "X")  # the refusal reads like a missing name


def test_the_business_lines_configurator_sees_its_projects_objects_but_not_unmanaged_ones(
    api, as_, estate, emulator
):
    tina = as_("tina@example.com")
    before = api.get("/workflow/inventory/recipients", headers=tina)
    adopt(api, as_, emulator)

    after = api.get("/workflow/inventory/recipients", headers=tina)

    assert names(before, "Recipients") == []
    assert names(after, "Recipients") == ["acme", "fabrikam", "globex"]


def test_a_configurator_does_not_see_unmanaged_objects(api, as_, estate):
    ann = as_("ann@example.com")

    assert names(api.get("/workflow/inventory/shares", headers=ann), "Shares") == []
    assert api.post("/workflow/inventory/export", headers=ann, json={"Shares": ["sales"]}).status_code == 404


@pytest.mark.parametrize("request_", [
    ("get", "/workflow/inventory/shares", None),
    ("get", "/workflow/inventory/recipients", None),
    ("post", "/workflow/inventory/export", {"Shares": ["sales"]}),
])
def test_a_caller_without_credentials_gets_401(api, as_, estate, request_):
    method, path, body = request_

    response = getattr(api, method)(path, headers=as_(None), json=body)

    assert response.status_code == 401


@pytest.mark.parametrize(("body", "status"), [
    ({}, 400),
    ({"Shares": [], "Recipients": []}, 400),
    ({"Shares": ["sales"], "Format": "pdf"}, 400),
    ({"Shares": "sales"}, 400),
    ({"Shares": ["a\x00b"]}, 400),  # refused by the JSON guard before the route reads it
])
def test_bad_export_bodies_are_refused(api, as_, estate, body, status):
    response = api.post("/workflow/inventory/export", headers=as_("tester"), json=body)

    assert response.status_code == status, response.json


def test_bad_listing_queries_are_refused(api, as_, estate):
    assert api.get("/workflow/inventory/shares?page=0", headers=as_("tester")).status_code == 400
    assert api.get("/workflow/inventory/shares?page_size=500", headers=as_("tester")).status_code == 400
