"""The pack page's actions in chromium, against the running stack (worker, emulator, PostgreSQL, Azurite):
retry, roll back, reconcile drift, rotate a token; and a caller of another business line sees no button and
is refused when posting anyway."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from playwright.sync_api import expect

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES
from shared.drift.sync import DatabricksObjectsSync
from shared.notifications.activation_links import ActivationLinkCipher
from shared.notifications.delivery import NotificationDeliverer
from shared.notifications.smtp import SmtpTransport
from shared.platform.credentials import DatabricksCredentials
from shared.provisioning.clients import WorkspaceClients
from shared.share_pack_file import SharePackSpec, to_yaml
from shared.share_pack_file.model import Strategy
from shared.share_pack_file.sample import sample_share_pack
from tests.browser.conftest import API_KEY, OUTSIDER_KEY, BrowserPage, ConsoleStack, reset_when_idle
from tests.browser.test_console import COMPLETION_TIMEOUT_MS, _upload
from tests.support.smtp import SmtpServer

MISSING_TABLE = "finance.ledger.entries"


@pytest.fixture
def workspace(console_stack: ConsoleStack) -> Iterator[WorkspaceClient]:
    """The real SDK on the emulator: what someone changing the workspace by hand would use."""
    yield WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), retry_timeout_seconds=15).client(
        console_stack.workspace_url
    )


def _submit(web: BrowserPage, spec: SharePackSpec) -> str:
    """Check and submit a pack; return its page's path (the check may warn: it must not refuse)."""
    _upload(web, "pack.yaml", to_yaml(spec).encode(), "application/yaml")
    web.page.get_by_role("button", name="Submit for provisioning").click()
    expect(web.page.locator("#pack-status")).to_be_visible()
    return web.page.url.removeprefix(web.stack.base_url)


def _wait_for(web: BrowserPage, status: str) -> None:
    """The page follows the pack live (polling, then one reload at the end) until ``status``."""
    try:
        expect(web.page.locator("#pack-status")).to_have_text(status, timeout=COMPLETION_TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log: {web.stack.worker_log_tail()}") from None
    expect(web.page.locator("#progress")).to_have_attribute("data-final", "true")


def _completed_pack(web: BrowserPage, spec: SharePackSpec | None = None) -> str:
    web.sign_in()
    path = _submit(web, spec or sample_share_pack())
    _wait_for(web, "COMPLETED")
    web.goto(path)  # the page as it is after the final reload
    return path


def _result(web: BrowserPage) -> Any:
    """The status region holding the result of the action just taken."""
    return web.page.get_by_role("status").filter(has=web.page.locator(".alert-ok"))


def _take_action(web: BrowserPage, button: str, screenshot: str, result: str | re.Pattern[str]) -> None:
    """Check the page that offers the action, take it, and see its result after the redirect."""
    web.assert_accessible()
    web.screenshot(screenshot)
    web.page.get_by_role("button", name=button).click()
    expect(_result(web)).to_contain_text(result)


def test_a_pack_that_failed_on_a_missing_table_is_retried_after_the_table_is_created(
    web: BrowserPage, console_stack: ConsoleStack
) -> None:
    emulator = reset_when_idle(console_stack)
    emulator.seed_tables([t for t in DEMO_TABLES if t != MISSING_TABLE])
    # The upload route's pre-flight cannot list the catalog (it then only warns: the worker's plan is the
    # final word), so the requestor's tools upload a pack that reaches the worker with a table missing.
    emulator.inject_fault(method="GET", path_regex=r"/unity-catalog/tables$", status=403,
                          error_code="PERMISSION_DENIED", message="no USE SCHEMA", times=None)
    web.sign_in()
    uploaded = web.page.request.post(
        web.stack.url("/workflow/sharepack/upload"), headers=_api_headers(web),
        multipart={"file": _file("pack.yaml", sample_share_pack())},
    )
    assert uploaded.status == 202, uploaded.text()
    path = f"/console/packs/{uploaded.json()['SharePackId']}"
    web.goto(path)
    _wait_for(web, "FAILED")
    expect(web.page.locator("#progress-error")).to_contain_text("entries")
    emulator.clear_faults()
    emulator.seed_tables([MISSING_TABLE])

    web.goto(path)
    _take_action(web, "Retry", "action-retry-offered", "Queued for retry")
    _wait_for(web, "COMPLETED")
    expect(web.page.locator("ol.timeline")).to_contain_text("retry")
    expect(web.page.get_by_role("button", name="Retry")).to_have_count(0)


def test_a_pack_is_rolled_back_from_v2_to_v1(web: BrowserPage, seeded_workspace: EmulatorControl,
                                            workspace: WorkspaceClient) -> None:
    path = _completed_pack(web)
    share_pack_id = path.rsplit("/", 1)[1]
    narrower = _without_globex(sample_share_pack())
    revised = web.page.request.post(
        web.stack.url(f"/workflow/sharepack/{share_pack_id}/upload"), headers=_api_headers(web),
        multipart={"file": _file("v2.yaml", narrower)},
    )
    assert revised.status == 202, revised.text()
    web.goto(path)
    _wait_for(web, "COMPLETED")
    assert "globex_lakehouse" not in _grantees(workspace, "sales_reporting")

    web.goto(path)
    web.page.get_by_label("Roll back to configuration version").select_option("1")
    web.page.get_by_role("button", name="Preview the rollback").click()
    # The plan against the workspace as it is, before anything changes: globex gets its grant back.
    expect(web.page.get_by_role("heading", level=1)).to_contain_text("to version 1")
    expect(web.page.locator("ul.plan")).to_contain_text("globex_lakehouse")
    assert "globex_lakehouse" not in _grantees(workspace, "sales_reporting")
    _take_action(web, "Roll back", "action-rollback-preview", "Rollback to version 1 queued")
    _wait_for(web, "COMPLETED")
    expect(web.page.locator("ol.timeline")).to_contain_text("rollback to v1")
    assert "globex_lakehouse" in _grantees(workspace, "sales_reporting")
    web.screenshot("action-rolled-back")


def test_drift_made_behind_the_services_back_is_reconciled(
    web: BrowserPage, seeded_workspace: EmulatorControl, workspace: WorkspaceClient, console_stack: ConsoleStack
) -> None:
    path = _completed_pack(web)
    removed = SharedDataObject(name=MISSING_TABLE, data_object_type=SharedDataObjectDataObjectType.TABLE)
    workspace.shares.update("finance_ledger", updates=[
        SharedDataObjectUpdate(action=SharedDataObjectUpdateAction.REMOVE, data_object=removed)
    ])
    readers = WorkspaceClients(DatabricksCredentials(token=DEFAULT_TOKEN), retry_timeout_seconds=15)
    DatabricksObjectsSync(console_stack.sessions, reader_for=readers.gateway).run(console_stack.workspace_url)

    web.goto(path)
    expect(web.page.locator("#drift-summary")).to_contain_text("found 1 change")
    expect(web.page.locator("ul.drift")).to_contain_text(MISSING_TABLE)
    _take_action(web, "Reconcile drift", "action-reconcile-offered", "Reconcile queued: 1 drift finding")
    _wait_for(web, "COMPLETED")
    shared = {o.name for o in workspace.shares.get("finance_ledger", include_shared_data=True).objects or ()}
    assert MISSING_TABLE in shared


def test_a_token_is_rotated_and_its_link_is_mailed_not_shown(
    web: BrowserPage, seeded_workspace: EmulatorControl, workspace: WorkspaceClient, console_stack: ConsoleStack,
    smtp_server: SmtpServer,
) -> None:
    path = _completed_pack(web)
    web.page.get_by_label("Hours the current token of acme_analytics keeps working").fill("2")
    _take_action(web, "Rotate token of acme_analytics", "action-rotate-offered",
                 re.compile(r"The new token expires at \d{4}-\d\d-\d\d \d\d:\d\d UTC"))
    expect(_result(web)).to_contain_text("the current one stops working at")
    web.screenshot("action-token-rotated")
    newest = max(workspace.recipients.get("acme_analytics").tokens or (), key=lambda t: t.created_at or 0)
    assert newest.activation_url and newest.activation_url not in web.page.content()

    # The sync service's delivery, run here against the suite's SMTP server.
    deliverer = NotificationDeliverer(
        console_stack.sessions, SmtpTransport(smtp_server.host, smtp_server.port, timeout_seconds=5),
        "sharepack@workflow.example", ActivationLinkCipher([console_stack.activation_key]),
        max_attempts=3, retry_delay_seconds=0,
    )
    deliverer.deliver_due()
    mails = smtp_server.mailbox.wait_for(1)
    assert any(newest.activation_url in str(mail.get_body(("plain",)).get_content()) for mail in mails)
    web.goto(path)
    expect(web.page.locator("ol.timeline")).not_to_contain_text(newest.activation_url)


def test_a_caller_of_another_business_line_gets_no_button_and_is_refused(
    web: BrowserPage, seeded_workspace: EmulatorControl
) -> None:
    path = _completed_pack(web)
    expect(web.page.get_by_role("button", name="Rotate token of acme_analytics")).to_be_visible()

    web.page.context.clear_cookies()
    web.sign_in(OUTSIDER_KEY)
    response = web.goto(path)
    assert response is not None and response.status == 404
    expect(web.page.get_by_role("button", name=re.compile("Retry|Roll back|Reconcile|Rotate"))).to_have_count(0)
    token = web.page.locator('meta[name="csrf-token"]').get_attribute("content")
    for action, form in (("retry", {}), ("rollback", {"to_version": "1"}), ("reconcile", {}),
                         ("recipients/acme_analytics/rotate-token", {"overlap_hours": "1"})):
        refused = web.page.request.post(web.stack.url(f"{path}/{action}"), form={"csrf_token": token, **form})
        assert refused.status in (403, 404), (action, refused.status)


def _api_headers(web: BrowserPage) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": web.stack.workspace_url}


def _file(name: str, spec: SharePackSpec) -> dict[str, object]:
    return {"name": name, "mimeType": "application/yaml", "buffer": to_yaml(spec).encode()}


def _grantees(workspace: WorkspaceClient, share: str) -> set[str]:
    permissions = workspace.shares.share_permissions(share)
    return {a.principal for a in permissions.privilege_assignments or () if a.principal}


def _without_globex(spec: SharePackSpec) -> SharePackSpec:
    """The pack as an UPDATE without one of its recipients (and its grants): a narrower revision."""
    shares = tuple(
        dataclasses.replace(s, recipients=tuple(r for r in s.recipients if r != "globex_lakehouse"))
        for s in spec.shares
    )
    return dataclasses.replace(
        spec, metadata=dataclasses.replace(spec.metadata, strategy=Strategy.UPDATE), shares=shares,
        recipients=tuple(r for r in spec.recipients if r.name != "globex_lakehouse"),
    )
