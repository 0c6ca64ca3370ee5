"""Journeys through the console in chromium: sign in, check a file, submit, follow, compare, download."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
from playwright.sync_api import expect

from dev.emulator.control import EmulatorControl
from shared.share_pack_file import parse_share_pack, to_excel, to_yaml
from shared.share_pack_file.sample import sample_share_pack
from tests.browser.conftest import (
    APPROVER_KEY,
    OUTSIDER_KEY,
    REQUESTOR,
    BrowserPage,
    markets_pack_yaml,
)

COMPLETION_TIMEOUT_MS = 90_000


def _yaml_with_bad_recipient_type() -> tuple[str, int]:
    """The example pack with one recipient type no one knows, and the line it is on."""
    lines = to_yaml(sample_share_pack()).splitlines()
    index = next(i for i, line in enumerate(lines) if re.search(r"\btype: D2O\b", line))
    lines[index] = lines[index].replace("D2O", "D2X")
    return "\n".join(lines) + "\n", index + 1


def _upload(web: BrowserPage, name: str, content: bytes, mime: str) -> None:
    web.goto("/console/upload")
    web.page.get_by_label("Share pack file (YAML or Excel)").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}]
    )
    web.page.get_by_role("button", name="Check the file").click()


def test_sign_in_refuses_a_wrong_key_then_signs_in(web: BrowserPage) -> None:
    web.goto("/console/packs")
    expect(web.page).to_have_url(re.compile(r"/console/sign-in\?next="))
    web.assert_accessible()
    web.screenshot("sign-in")

    web.sign_in("not-the-key-at-all", succeeds=False)
    expect(web.page.get_by_role("alert")).to_contain_text("Invalid credentials")

    web.sign_in()
    expect(web.page.get_by_role("heading", name="Share packs")).to_be_visible()
    expect(web.page.get_by_text("Signed in as")).to_contain_text(REQUESTOR)
    cookie = next(c for c in web.page.context.cookies() if c["name"] == "sharepack_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_keyboard_reaches_the_skip_link_first_and_it_moves_focus_to_the_content(web: BrowserPage) -> None:
    web.sign_in()
    web.page.keyboard.press("Tab")
    expect(web.page.get_by_role("link", name="Skip to content")).to_be_focused()
    web.page.keyboard.press("Enter")
    expect(web.page.locator("main")).to_be_focused()
    web.page.keyboard.press("Tab")
    expect(web.page.get_by_role("link", name="Upload a share pack")).to_be_focused()


def test_a_bad_yaml_shows_the_error_on_its_line(web: BrowserPage) -> None:
    text, bad_line = _yaml_with_bad_recipient_type()
    web.sign_in()
    _upload(web, "bad.yaml", text.encode(), "application/yaml")

    expect(web.page.locator("#check-result")).to_contain_text("1 error")
    highlighted = web.page.locator("ol.source li.line-error")
    expect(highlighted).to_have_count(1)
    expect(highlighted).to_have_attribute("data-line", str(bad_line))
    expect(highlighted).to_contain_text("D2X")
    expect(web.page.get_by_role("link", name=f"Show line {bad_line}")).to_be_visible()
    expect(web.page.get_by_role("button", name="Submit for provisioning")).to_have_count(0)
    web.assert_accessible()
    web.screenshot("check-bad-yaml")


def test_a_bad_excel_names_the_sheet_row_and_column(web: BrowserPage) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(to_excel(sample_share_pack())))
    sheet, row, column = _cell_holding(workbook, "D2O")
    workbook[sheet].cell(row=row, column=column).value = "D2X"
    buffer = io.BytesIO()
    workbook.save(buffer)
    expected = parse_share_pack(buffer.getvalue(), filename="bad.xlsx").errors[0].location

    web.sign_in()
    _upload(web, "bad.xlsx", buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    where = web.page.locator(".issue-error .where")
    expect(where).to_have_text(f"sheet {expected['sheet']}, row {expected['row']}, column {expected['column']}")
    assert expected["sheet"] == sheet and expected["row"] == row
    web.assert_accessible()
    web.screenshot("check-bad-excel")


def _cell_holding(workbook: openpyxl.Workbook, value: str) -> tuple[str, int, int]:
    for worksheet in workbook.worksheets:
        for cells in worksheet.iter_rows():
            for cell in cells:
                if cell.value == value:
                    return worksheet.title, cell.row, cell.column
    raise AssertionError(f"no cell holds {value!r}")


def test_a_good_pack_is_checked_submitted_and_followed_to_completed_then_its_versions_compared(
    web: BrowserPage, seeded_workspace: EmulatorControl
) -> None:
    web.sign_in()
    _upload(web, "partners.yaml", to_yaml(sample_share_pack()).encode(), "application/yaml")
    expect(web.page.locator("#check-result")).to_contain_text("The file is valid")
    # The dry run's plan preview, read from the workspace before anything changes.
    expect(web.page.locator("ul.plan li.plan-create")).to_contain_text(["create recipient acme_analytics"])
    web.assert_accessible()
    web.screenshot("check-good-yaml")
    web.page.get_by_role("button", name="Submit for provisioning").click()

    expect(web.page.get_by_role("heading", level=1)).to_contain_text("SharePack_jane.doe@example.com_")
    pack_path = web.page.url.removeprefix(web.stack.base_url)
    # The page is not reloaded: the status and step change through polling only.
    try:
        expect(web.page.locator("#pack-status")).to_have_text("COMPLETED", timeout=COMPLETION_TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log: {web.stack.worker_log_tail()}") from None
    expect(web.page.locator("#progress-text")).to_contain_text("Step 8/8")
    expect(web.page.locator("#progress-bar")).to_have_attribute("value", "8")
    web.page.reload()
    expect(web.page.locator("ul.plan li.plan-create").first).to_be_visible()
    expect(web.page.locator("ol.timeline li").first).to_contain_text("COMPLETED")
    web.assert_accessible()
    web.screenshot("pack-completed")

    web.page.get_by_label("Compare version").select_option("1")
    web.page.get_by_role("button", name="Compare").click()
    expect(web.page.locator("li.diff-remove")).to_contain_text(["IN_PROGRESS"])
    expect(web.page.locator("li.diff-add").first).to_contain_text("COMPLETED")
    web.assert_accessible()
    web.screenshot("diff")

    web.goto("/console/packs?status=COMPLETED")
    expect(web.page.locator("table.packs tbody tr")).not_to_have_count(0)
    web.goto("/console/packs?status=COMPLETED&project=Partner+analytics")
    expect(web.page.locator(f"table.packs a[href='{pack_path}']")).to_have_count(1)
    # The filters leave it out when it does not match (other journeys' packs may match: they are not counted).
    web.goto("/console/packs?status=FAILED&project=Partner+analytics")
    expect(web.page.locator(f"table.packs a[href='{pack_path}']")).to_have_count(0)
    web.goto("/console/packs")
    web.assert_accessible()
    web.screenshot("packs")


def test_a_failed_pack_shows_databricks_own_error(web: BrowserPage, seeded_workspace: EmulatorControl) -> None:
    denied = "User does not have SELECT on Table 'finance.ledger.entries'"
    seeded_workspace.inject_fault(
        method="PATCH", path_regex="/shares/finance_ledger$", status=403, error_code="PERMISSION_DENIED",
        message=denied, times=None,
    )
    web.sign_in()
    _upload(web, "partners.yaml", to_yaml(sample_share_pack()).encode(), "application/yaml")
    web.page.get_by_role("button", name="Submit for provisioning").click()
    try:
        expect(web.page.locator("#pack-status")).to_have_text("FAILED", timeout=COMPLETION_TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log: {web.stack.worker_log_tail()}") from None
    alert = web.page.locator("#progress-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(denied)
    expect(alert).to_contain_text("Step 5/8")
    web.assert_accessible()
    web.screenshot("pack-failed")


def test_dropping_a_file_on_the_upload_form_checks_it(web: BrowserPage) -> None:
    text, _line = _yaml_with_bad_recipient_type()
    web.sign_in()
    web.goto("/console/upload")
    web.assert_accessible()
    web.screenshot("upload")
    transfer = web.page.evaluate_handle(
        """(text) => { const t = new DataTransfer();
                     t.items.add(new File([text], 'dropped.yaml', {type: 'application/yaml'})); return t; }""",
        text,
    )
    web.page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(web.page.get_by_role("heading", level=1)).to_contain_text("dropped.yaml")
    expect(web.page.locator("ol.source li.line-error")).to_have_count(1)


def test_the_templates_download_as_valid_share_packs(web: BrowserPage, tmp_path: Path) -> None:
    web.sign_in()
    web.page.get_by_role("link", name="Templates").click()
    web.assert_accessible()
    for link, filename in (("Excel template", "sharepack.xlsx"), ("Example YAML", "sharepack.yaml")):
        with web.page.expect_download() as download:
            web.page.get_by_role("link", name=re.compile(link)).click()
        saved = tmp_path / filename
        download.value.save_as(saved)
        assert download.value.suggested_filename == filename
        assert parse_share_pack(saved.read_bytes(), filename=filename).is_valid


def test_a_form_without_its_csrf_token_is_refused(web: BrowserPage) -> None:
    web.sign_in()
    response = web.page.request.post(web.stack.url("/console/sign-out"), form={"csrf_token": "forged"})
    assert response.status == 400
    web.goto("/console/packs")
    expect(web.page.get_by_role("heading", name="Share packs")).to_be_visible()  # still signed in


def test_the_api_docs_load_from_this_origin_under_the_csp(web: BrowserPage) -> None:
    requested: list[str] = []
    web.page.on("request", lambda request: requested.append(request.url))
    response = web.goto("/workflow/docs")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(web.page.locator(".swagger-ui .info .title")).to_contain_text("Share Pack Workflow")
    assert all(url.startswith(web.stack.base_url) for url in requested), requested


def _submit(web: BrowserPage, yaml_text: str) -> str:
    """Check and submit a pack through the console; return the pack page's path."""
    _upload(web, "pack.yaml", yaml_text.encode(), "application/yaml")
    expect(web.page.locator("#check-result")).to_contain_text("The file is valid")
    web.page.get_by_role("button", name="Submit for provisioning").click()
    expect(web.page.locator("#pack-status")).to_be_visible()
    return web.page.url.removeprefix(web.stack.base_url)


def test_an_approver_approves_a_pending_pack_from_the_inbox(
    web: BrowserPage, browser: object, seeded_workspace: EmulatorControl  # its check reads the example's tables
) -> None:
    markets_pack = markets_pack_yaml()
    web.sign_in()
    pack_path = _submit(web, markets_pack)
    expect(web.page.locator("#pack-status")).to_have_text("PENDING_APPROVAL")
    expect(web.page.get_by_role("button", name="Approve")).to_have_count(0)  # a requestor never decides

    web.page.context.clear_cookies()
    web.sign_in(APPROVER_KEY)
    web.page.get_by_role("link", name="Approvals").click()
    entry = web.page.locator(".inbox > li").filter(has=web.page.locator(f"a[href='{pack_path}']"))
    expect(entry).to_contain_text("recipient acme_markets_analytics (D2O")
    web.assert_accessible()
    web.screenshot("approvals")
    entry.get_by_role("link").click()

    decline = web.page.get_by_role("button", name="Decline")
    decline.click()  # without a comment the browser refuses (required), and so would the server
    expect(web.page.locator("#pack-status")).to_have_text("PENDING_APPROVAL")
    web.page.get_by_label("Comment (optional)").fill("Partner contract checked")
    web.page.get_by_role("button", name="Approve").click()
    expect(web.page.locator("#pack-status")).not_to_have_text("PENDING_APPROVAL")
    expect(web.page.locator("ol.timeline")).to_contain_text("approved")
    expect(web.page.locator("ol.timeline")).to_contain_text("Partner contract checked")
    web.goto("/console/approvals")
    expect(web.page.locator(f".inbox a[href='{pack_path}']")).to_have_count(0)


def test_a_requestor_cannot_see_another_tenants_pack(web: BrowserPage, seeded_workspace: EmulatorControl) -> None:
    web.sign_in()
    pack_path = _submit(web, to_yaml(sample_share_pack()))

    web.page.context.clear_cookies()
    web.sign_in(OUTSIDER_KEY)
    expect(web.page.locator(f"a[href='{pack_path}']")).to_have_count(0)
    response = web.goto(pack_path)
    assert response is not None and response.status == 404
    expect(web.page.get_by_role("alert")).to_contain_text("not found")
    response = web.goto(pack_path + "/progress")
    assert response is not None and response.status == 404


def test_reports_chart_a_finished_pack_under_the_csp_on_a_desktop_and_a_phone(
    web: BrowserPage, seeded_workspace: EmulatorControl
) -> None:
    web.sign_in()
    _submit(web, to_yaml(sample_share_pack()))
    expect(web.page.locator("#pack-status")).to_have_text("COMPLETED", timeout=COMPLETION_TIMEOUT_MS)

    web.page.get_by_role("link", name="Reports").click()
    charts = web.page.get_by_role("img")
    expect(charts).to_have_count(3)
    expect(web.page.locator("#packs-heading + p")).to_contain_text("completed")
    # The bars are drawn: a finished run today is at least one bar of the pack chart.
    expect(web.page.locator("svg.chart").first.locator("rect[height]").first).to_be_attached()
    web.assert_accessible()
    web.screenshot("reports")

    web.page.set_viewport_size({"width": 375, "height": 800})
    web.page.reload()
    expect(charts.first).to_be_visible()
    overflow = web.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
    web.assert_accessible()
    web.screenshot("reports-phone")


def test_the_inventory_lists_a_provisioned_share_with_its_pack_and_finds_it_by_name(
    web: BrowserPage, seeded_workspace: EmulatorControl
) -> None:
    web.sign_in()
    _submit(web, to_yaml(sample_share_pack()))
    expect(web.page.locator("#pack-status")).to_have_text("COMPLETED", timeout=COMPLETION_TIMEOUT_MS)

    web.page.get_by_role("link", name="Inventory").click()
    web.page.get_by_label("Name contains").fill("sales")
    web.page.get_by_role("button", name="Filter").click()

    shares = web.page.get_by_role("table", name=re.compile("Shares"))
    expect(shares.get_by_role("row")).to_have_count(2)  # the header and sales_reporting
    expect(shares).to_contain_text("sales_reporting")
    expect(shares.get_by_role("link")).to_have_count(1)  # the pack that manages it
    web.assert_accessible()
    web.screenshot("inventory")
