"""Signing in to the console with Microsoft Entra ID (the Graph emulator plays Entra) in chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dev.emulator.control import EmulatorControl
from dev.graph_emulator.control import GraphEmulatorControl
from shared.share_pack_file import to_yaml
from shared.share_pack_file.sample import sample_share_pack
from tests.browser.conftest import FINANCE_ENTRA_GROUP, BrowserPage, markets_pack_yaml
from tests.browser.test_console import _submit

ERIN = "erin.entra@contoso.example"


@pytest.fixture
def directory(web: BrowserPage) -> GraphEmulatorControl:
    """The Graph emulator holding Erin, a member of the Entra group that configures Finance."""
    graph = web.stack.graph
    graph.reset()
    graph.seed(
        users=[{"userPrincipalName": ERIN, "displayName": "Erin Entra"},
               {"userPrincipalName": "other@contoso.example", "displayName": "Other Person"}],
        groups=[{"id": FINANCE_ENTRA_GROUP, "displayName": "Finance analysts", "members": [ERIN]}],
    )
    return graph


def test_sign_in_with_microsoft_picks_a_user_and_shows_only_their_tenants_packs(
    web: BrowserPage, seeded_workspace: EmulatorControl, directory: GraphEmulatorControl
) -> None:
    # Two packs by the API-key requestor: one of Finance (Erin's tenant), one of Markets (not hers).
    web.sign_in()
    finance_pack = _submit(web, to_yaml(sample_share_pack()))
    markets_pack = _submit(web, markets_pack_yaml())
    web.page.context.clear_cookies()

    web.goto("/console/sign-in")
    web.page.get_by_label("Databricks workspace").select_option(web.stack.workspace_url)
    web.assert_accessible()
    web.page.get_by_role("button", name="Sign in with Microsoft").click()

    expect(web.page.get_by_role("heading", name="Pick an account")).to_be_visible()
    assert web.page.url.startswith(directory.url)
    web.screenshot("entra-pick-account")
    web.page.get_by_role("button", name=re.compile("Erin Entra")).click()

    expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
    assert web.page.url.startswith(web.stack.url("/console/packs"))
    expect(web.page.locator("body")).to_contain_text(ERIN)
    expect(web.page.locator(f"a[href='{finance_pack}']")).to_have_count(1)
    expect(web.page.locator(f"a[href='{markets_pack}']")).to_have_count(0)
    web.assert_accessible()
    web.screenshot("entra-signed-in")
    response = web.goto(markets_pack)
    assert response is not None and response.status == 404


def test_cancelling_at_the_identity_provider_returns_to_the_sign_in_page_with_a_message(
    web: BrowserPage, directory: GraphEmulatorControl
) -> None:
    web.goto("/console/sign-in")
    web.page.get_by_role("button", name="Sign in with Microsoft").click()
    web.page.get_by_role("button", name="Cancel").click()
    expect(web.page.get_by_role("alert")).to_have_text("Sign-in with Microsoft was cancelled.")
    expect(web.page.get_by_role("button", name="Sign in with Microsoft")).to_be_visible()
    web.assert_accessible()
