"""The console's inventory page: the same visibility as the API, searchable and filtered by project."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.integration.api.test_console_routes import csrf_of
from tests.integration.inventory.conftest import KEYS


def signed_in(api: FlaskClient, who: str, workspace: str) -> FlaskClient:
    form = {"csrf_token": csrf_of(api), "api_key": KEYS[who], "workspace_url": workspace}
    assert api.post("/console/sign-in", data=form).status_code == 302
    return api


def test_the_administrator_finds_an_unmanaged_share_by_name(api, estate, emulator):
    page = signed_in(api, "tester", emulator.url).get("/console/inventory?search=sal&project=UNMANAGED")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Shares (1)" in text and "<td>sales</td>" in text and "<td>ledger</td>" not in text
    assert "<td>acme</td>" not in text  # no recipient's name contains "sal"


def test_a_configurator_sees_nothing_unmanaged(api, estate, emulator):
    page = signed_in(api, "ann@example.com", emulator.url).get("/console/inventory")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Shares (0)" in text and "Recipients (0)" in text and "sales" not in text


def test_a_bad_filter_is_a_400_page(api, estate, emulator):
    page = signed_in(api, "tester", emulator.url).get("/console/inventory?page=0")

    assert page.status_code == 400


def test_a_long_inventory_pages_and_keeps_its_filters(api, estate, emulator, workspace_client):
    for index in range(25):
        workspace_client.shares.create(f"bulk_{index:02d}")
    client = signed_in(api, "tester", emulator.url)

    first = client.get("/console/inventory?search=bulk").get_data(as_text=True)
    second = client.get("/console/inventory?search=bulk&page=2").get_data(as_text=True)

    assert "Shares (25)" in first and 'href="/console/inventory?search=bulk&amp;page=2"' in first
    assert "<td>bulk_24</td>" in second and "<td>bulk_00</td>" not in second and 'rel="prev"' in second
