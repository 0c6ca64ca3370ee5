"""`POST /workflow/sharepack/{id}/rollback` plans against the emulated workspace when it is asked:
`DryRun` answers the plan alone, a real rollback stores it for `GET .../plan` at once, and a workspace
that cannot be read leaves the plan to the worker with a warning."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType, IpAccessList
from sqlalchemy import func, select

from dev.emulator.control import EmulatorControl
from shared.models import OutboxMessage, Recipient, SharePack
from shared.models.history import History
from shared.platform.status import SharePackStatus
from tests.integration.preflight.conftest import EXAMPLE_TABLES, edited, post_file

ACME = "acme_analytics"
LATER_IPS = ["198.51.100.7", "203.0.113.0/24"]


def without_acme_ips_and_comment(pack: dict[str, Any]) -> None:
    acme = pack["recipient"][0]
    del acme["allowed_ips"], acme["comment"]


def as_update(pack: dict[str, Any]) -> None:
    pack["metadata"]["strategy"] = "UPDATE"


def finish(session_factory, share_pack_id: str) -> None:
    """Stand in for the worker: the pack's attempt ended."""
    with session_factory.begin() as session:
        History(session, SharePack).change(share_pack_id, changed_by="worker", change_reason="provisioning done",
                                           share_pack_status=SharePackStatus.COMPLETED)


@pytest.fixture
def two_configurations(api, headers, emulator: EmulatorControl, session_factory, workspace_client: WorkspaceClient):
    """A pack whose v1 declared acme without IPs or comment and whose revision added both, and a
    workspace holding acme as the revision left it."""
    emulator.seed_tables(EXAMPLE_TABLES)
    client = api()
    first = post_file(client, "upload", headers, edited(without_acme_ips_and_comment))
    assert first.status_code == 202, first.json
    pack_id = first.json["SharePackId"]
    finish(session_factory, pack_id)
    revised = post_file(client, f"{pack_id}/upload", headers, edited(as_update))
    assert revised.status_code == 202, revised.json
    finish(session_factory, pack_id)
    workspace_client.recipients.create(
        ACME, AuthenticationType.TOKEN, comment="Acme's analytics team (open sharing, bearer token).",
        ip_access_list=IpAccessList(allowed_ip_addresses=LATER_IPS),
    )
    with session_factory.begin() as session:  # recorded as the pack's project's, as the worker would
        History(session, Recipient).create(
            created_by="worker", workspace_url=emulator.url, recipient_name=ACME, recipient_type="D2O",
            project_id=History(session, SharePack).get_current(pack_id).project_id,
        )
    return client, pack_id


def rollback(client, headers, pack_id: str, **body: Any):
    return client.post(f"/workflow/sharepack/{pack_id}/rollback", json={"ToVersion": 1, **body}, headers=headers)


def acme_change(plan: dict[str, Any]) -> dict[str, Any]:
    (change,) = [c for c in plan["steps"]["recipients"] if c["name"] == ACME]
    return change


def counts(session_factory) -> tuple[int, int]:
    with session_factory() as session:
        return (session.scalar(select(func.count()).select_from(SharePack)),
                session.scalar(select(func.count()).select_from(OutboxMessage)))


def test_dry_run_answers_the_plan_that_clears_the_ip_list_and_queues_nothing(
    two_configurations, headers, emulator: EmulatorControl, session_factory
):
    client, pack_id = two_configurations
    before = counts(session_factory)
    emulator.clear_requests()

    response = rollback(client, headers, pack_id, DryRun=True)

    assert response.status_code == 200, response.json
    change = acme_change(response.json["Plan"])
    assert change["action"] == "update" and change["widens_access"] is True
    assert change["new"] == {"allowed_ips": [], "comment": None}
    assert change["old"]["allowed_ips"] == LATER_IPS
    assert response.json["Status"] == "COMPLETED" and response.json["Version"] == 4
    assert counts(session_factory) == before
    assert {r["method"] for r in emulator.requests()} == {"GET"}


def test_a_rollback_stores_its_plan_as_a_preview_visible_at_once(two_configurations, headers, session_factory):
    client, pack_id = two_configurations

    response = rollback(client, headers, pack_id)

    assert response.status_code == 202, response.json
    assert response.json["ValidationWarnings"] == []
    shown = client.get(f"/workflow/sharepack/{pack_id}/plan", headers=headers).json
    assert shown["Message"].startswith("Plan preview") and shown["Plan"]["preview"] is True
    assert "made_at" not in shown["Plan"]  # the worker must not take it for an earlier attempt's plan
    assert acme_change(shown["Plan"]) == acme_change(response.json["Plan"])
    assert acme_change(shown["Plan"])["new"]["allowed_ips"] == []


def test_an_unreadable_workspace_leaves_the_plan_pending_with_a_warning(
    two_configurations, headers, emulator: EmulatorControl
):
    client, pack_id = two_configurations
    emulator.inject_fault(path_regex="recipients", status=403, error_code="PERMISSION_DENIED", times=None)

    response = rollback(client, headers, pack_id)

    assert response.status_code == 202, response.json
    assert response.json["Plan"] is None and response.json["Status"] == "IN_PROGRESS"
    assert any(w["message"].startswith("Plan pending") for w in response.json["ValidationWarnings"])
    shown = client.get(f"/workflow/sharepack/{pack_id}/plan", headers=headers).json
    assert shown["Plan"] is None and shown["Message"] == "Plan not made yet"


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_caller_who_may_not_upload_here_neither_sees_nor_queues_a_rollback(
    dry_run: bool, api, two_configurations, headers, emulator: EmulatorControl, session_factory
):
    _, pack_id = two_configurations
    outsider = api(api_keys="tester=unused-key-0123456789abcdef01234,outsider=outsider-key-0123456789abcdef01234")
    before = counts(session_factory)
    emulator.clear_requests()

    response = rollback(outsider, {**headers, "Authorization": "Bearer outsider-key-0123456789abcdef01234"}, pack_id,
                        DryRun=dry_run)

    assert response.status_code in (403, 404), response.json
    assert "Plan" not in response.json
    assert counts(session_factory) == before
    assert emulator.requests() == []  # refused before the workspace was read
