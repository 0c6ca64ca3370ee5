"""The inventory shows the sharing fields the share pack format carries (recipient properties, authentication
and federation policies; partitions, change data feed and start version) and the `expires_on` the service
recorded, to whoever may see the object and to no one else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shared.access_expiry.rules import EVERY_SHARE
from shared.models import AccessExpiry
from tests.integration.inventory.test_console_inventory import signed_in
from tests.integration.inventory.test_inventory_export import adopt, names

GRANT_ENDS = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
ACCESS_ENDS = datetime(2031, 6, 30, tzinfo=UTC)


def record_expiries(sessions: sessionmaker[Session], workspace_url: str) -> None:
    """What completing a pack with `expires_on` records: acme's grant on sales, and globex's whole access;
    a later pack's later end for the same grant does not postpone the first."""
    pack, later_pack = uuid.uuid4(), uuid.uuid4()
    with sessions.begin() as session:
        session.add_all([
            AccessExpiry(share_pack_id=pack, recipient_name="acme", share_name="sales",
                         workspace_url=workspace_url, expires_at=GRANT_ENDS),
            AccessExpiry(share_pack_id=later_pack, recipient_name="acme", share_name="sales",
                         workspace_url=workspace_url, expires_at=GRANT_ENDS + timedelta(days=30)),
            AccessExpiry(share_pack_id=pack, recipient_name="globex", share_name=EVERY_SHARE,
                         workspace_url=workspace_url, expires_at=ACCESS_ENDS),
            # another workspace's record of the same names says nothing about this one
            AccessExpiry(share_pack_id=pack, recipient_name="fabrikam", share_name=EVERY_SHARE,
                         workspace_url="https://adb-1.azuredatabricks.net", expires_at=ACCESS_ENDS),
        ])


def by_name(response: Any, key: str) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.json
    return {item["Name"]: item for item in response.json[key]}


def test_the_administrator_sees_every_sharing_field_of_the_unmanaged_estate(api, as_, estate):
    recipients = by_name(api.get("/workflow/inventory/recipients", headers=as_("tester")), "Recipients")
    shares = by_name(api.get("/workflow/inventory/shares", headers=as_("tester")), "Shares")

    acme, fabrikam, globex = recipients["acme"], recipients["fabrikam"], recipients["globex"]
    assert acme["Properties"] == {"country": "FR", "tier": "gold"} and acme["FederationPolicies"] == []
    assert fabrikam["AuthenticationType"] == "OIDC_FEDERATION" and fabrikam["Project"] == "UNMANAGED"
    assert fabrikam["FederationPolicies"] == [{
        "Name": "powerbi", "Issuer": "https://login.microsoftonline.com/fabrikam/v2.0", "SubjectClaim": "groups",
        "Subject": "g-1", "Audiences": ["api://databricks-sharing"], "Comment": None}]
    assert globex["Properties"] == {} and globex["ExpiresOn"] is None
    objects = {o["Name"]: o for o in shares["sales"]["Objects"]}
    orders, returns = objects["sales.reporting.orders"], objects["sales.reporting.returns"]
    assert orders["Partitions"] == [
        {"Conditions": [{"Column": "country", "Value": None, "RecipientProperty": "country"}]}]
    assert (orders["CdfEnabled"], orders["StartVersion"]) == (True, 2)
    assert (returns["Partitions"], returns["StartVersion"]) == ([], None) and not returns["CdfEnabled"]
    assert shares["sales"]["Grants"] == [{"Recipient": "acme", "ExpiresOn": None},
                                         {"Recipient": "globex", "ExpiresOn": None}]


def test_recorded_expiries_are_shown_on_the_grant_and_the_recipient(api, as_, estate, emulator, session_factory):
    record_expiries(session_factory, emulator.url)

    recipients = by_name(api.get("/workflow/inventory/recipients", headers=as_("tester")), "Recipients")
    shares = by_name(api.get("/workflow/inventory/shares", headers=as_("tester")), "Shares")

    assert shares["sales"]["Grants"] == [{"Recipient": "acme", "ExpiresOn": GRANT_ENDS.isoformat()},
                                         {"Recipient": "globex", "ExpiresOn": None}]
    assert recipients["acme"]["Grants"] == [{"Share": "sales", "ExpiresOn": GRANT_ENDS.isoformat()}]
    assert recipients["acme"]["ExpiresOn"] is None
    assert recipients["globex"]["ExpiresOn"] == ACCESS_ENDS.isoformat()
    assert recipients["fabrikam"]["ExpiresOn"] is None


def test_the_console_shows_the_fields_and_the_expiries(api, estate, emulator, session_factory):
    record_expiries(session_factory, emulator.url)

    text = signed_in(api, "tester", emulator.url).get("/console/inventory").get_data(as_text=True)

    assert "country=FR, tier=gold" in text
    assert "policy powerbi: groups = g-1 from https://login.microsoftonline.com/fabrikam/v2.0" in text
    assert "sales.reporting.orders (TABLE); 1 partition; change data feed; from version 2" in text
    assert 'acme (until <time datetime="2031-03-01T12:00:00+00:00">2031-03-01</time>)' in text
    assert '<time datetime="2031-06-30T00:00:00+00:00">2031-06-30</time>' in text


def test_a_rival_learns_no_field_nor_expiry_of_another_projects_estate(
    api: FlaskClient, as_, estate, emulator, session_factory
):
    adopt(api, as_, emulator)
    record_expiries(session_factory, emulator.url)
    rita = as_("rita@example.com")

    # the rival asks for everything, searches for the names it knows, and filters by the owner's project
    listed = [api.get(f"/workflow/inventory/{kind}{query}", headers=rita)
              for kind in ("recipients", "shares") for query in ("", "?search=acme", "?project=Adopters")]
    page = signed_in(api, "rita@example.com", emulator.url).get("/console/inventory").get_data(as_text=True)

    assert all(response.status_code == 200 and response.json["Total"] == 0 for response in listed)
    assert "country=FR" not in page and "powerbi" not in page and "2031-" not in page


def test_the_owning_projects_configurator_sees_what_the_administrator_sees(api, as_, estate, emulator,
                                                                           session_factory):
    adopt(api, as_, emulator)
    record_expiries(session_factory, emulator.url)

    ann = api.get("/workflow/inventory/recipients", headers=as_("ann@example.com"))
    admin = api.get("/workflow/inventory/recipients", headers=as_("tester"))

    assert names(ann, "Recipients") == ["acme", "fabrikam", "globex"]
    assert ann.json["Recipients"] == admin.json["Recipients"]
    assert by_name(ann, "Recipients")["globex"]["ExpiresOn"] == ACCESS_ENDS.isoformat()
