"""Recertification in chromium: an administrator requires it on the pack page, presses *Recertify access*
and sees the new due date; the page passes axe-core's checks at each step."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from dev.emulator.control import EmulatorControl
from tests.browser.conftest import ADMIN_KEY, BrowserPage
from tests.browser.test_actions import _completed_pack, _result

EVERY_DAYS = 30
MINUTE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


def test_an_administrator_requires_recertification_and_recertifies_the_access(
    web: BrowserPage, seeded_workspace: EmulatorControl
) -> None:
    path = _completed_pack(web)
    web.page.context.clear_cookies()
    web.sign_in(ADMIN_KEY)
    web.goto(path)
    period = web.page.get_by_label("Recertify the project's access every (days; empty: never)")
    expect(web.page.get_by_role("button", name="Recertify access")).to_have_count(0)
    web.assert_accessible()

    period.fill(str(EVERY_DAYS))
    web.page.get_by_role("button", name="Set recertification period").click()
    expect(_result(web)).to_contain_text(f"recertified every {EVERY_DAYS} days")
    expect(web.page.locator("#recertification-due")).to_have_text(MINUTE)
    web.assert_accessible()
    web.screenshot("recertification-required")

    pressed_at = datetime.now(UTC)
    web.page.get_by_role("button", name="Recertify access").click()
    expect(_result(web)).to_contain_text(re.compile(r"the next recertification is due at " + MINUTE.pattern))
    flashed_due = MINUTE.search(_result(web).inner_text())
    assert flashed_due is not None
    due = web.page.locator("#recertification-due")
    expect(due).to_have_text(flashed_due.group(0))
    shown = datetime.strptime(due.inner_text(), "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    expected = pressed_at + timedelta(days=EVERY_DAYS)
    assert timedelta(minutes=-1) <= shown - expected <= timedelta(minutes=2), (shown, expected)
    expect(web.page.locator("section.recertification")).to_contain_text("by admin@example.com")
    web.assert_accessible()
    web.screenshot("recertification-recertified")

    # Leave the shared stack's project as the other journeys expect it: no recertification required.
    period.fill("")
    web.page.get_by_role("button", name="Set recertification period").click()
    expect(_result(web)).to_contain_text("no longer requires recertification")
