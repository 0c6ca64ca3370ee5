"""`POST /workflow/sharepack/validate`: the dry run against the emulated workspace, read-only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dev.emulator.control import EmulatorControl
from shared.models import AuditEntry, OutboxMessage, SharePack
from tests.integration.preflight.conftest import EXAMPLE_TABLES, edited, load, post_file, sample


def counts(session_factory) -> tuple[int, int, int]:
    with session_factory() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) for model in (SharePack, OutboxMessage, AuditEntry)
        )


def test_example_pack_answers_its_plan_and_changes_nothing(api, headers, emulator: EmulatorControl, session_factory):
    emulator.seed_tables(EXAMPLE_TABLES)
    emulator.clear_requests()
    before = counts(session_factory)

    response = post_file(api(), "validate", headers, sample())

    assert response.status_code == 200, response.json
    body = response.json
    assert body["Valid"] is True and body["ValidationErrors"] == []
    summary = body["Plan"]["summary"]
    assert summary["recipient_create"] == 2
    assert summary["share_create"] == 2
    assert summary["data_object_add"] == 5
    assert summary["grant_grant"] == 3
    assert counts(session_factory) == before
    assert {r["method"] for r in emulator.requests()} == {"GET"}
    state = emulator.state()
    assert not state["recipients"] and not state["shares"]


def test_missing_table_and_a_view_declared_as_table_are_named(api, headers, emulator: EmulatorControl):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if t != "sales.reporting.returns"])
    emulator.seed_tables(["finance.ledger.accounts"], table_type="VIEW")

    body = post_file(api(), "validate", headers, sample()).json

    assert body["Valid"] is False
    by_path = {e["path"]: e["message"] for e in body["ValidationErrors"]}
    assert "sales.reporting.returns does not exist" in by_path["share[0].data_objects[2].name"]
    accounts = by_path["share[1].data_objects[1].name"]
    assert "finance.ledger.accounts" in accounts and "TABLE" in accounts and "VIEW" in accounts
    assert body["Plan"] is not None  # the preview is still shown


def test_missing_schema_is_reported_once_per_object(api, headers, emulator: EmulatorControl):
    emulator.seed_tables([t for t in EXAMPLE_TABLES if not t.startswith("finance.")])

    body = post_file(api(), "validate", headers, sample()).json

    messages = [e["message"] for e in body["ValidationErrors"]]
    assert sum("schema finance.ledger" in m for m in messages) == 2


def test_d2o_recipient_needs_external_sharing(api, headers, emulator: EmulatorControl):
    emulator.seed_tables(EXAMPLE_TABLES)
    emulator.update_metastore(delta_sharing_scope="INTERNAL")

    body = post_file(api(), "validate", headers, sample()).json

    errors = {e["path"]: e["message"] for e in body["ValidationErrors"]}
    assert "INTERNAL" in errors["recipient[0].type"] and "acme_analytics" in errors["recipient[0].type"]
    assert "recipient[1].type" not in errors  # D2D needs no open sharing


def test_d2d_metastore_already_used_by_another_recipient(api, headers, emulator: EmulatorControl, workspace_client):
    from databricks.sdk.service.sharing import AuthenticationType

    emulator.seed_tables(EXAMPLE_TABLES)
    metastore = load(sample())["recipient"][1]["metastore_id"]
    workspace_client.recipients.create(
        "someone_else", AuthenticationType.DATABRICKS, data_recipient_global_metastore_id=metastore
    )

    body = post_file(api(), "validate", headers, sample()).json

    messages = [e["message"] for e in body["ValidationErrors"]]
    assert any(f"metastore {metastore} already has a recipient under another name" in m for m in messages)
    assert not any("someone_else" in m for m in messages)  # maybe another project's: never named


def test_new_conflict_is_an_error(api, headers, emulator: EmulatorControl, workspace_client):
    emulator.seed_tables(EXAMPLE_TABLES)
    workspace_client.shares.create("sales_reporting", comment="somebody else's share")

    body = post_file(api(), "validate", headers, sample()).json

    assert any("sales_reporting" in e["message"] for e in body["ValidationErrors"])


def test_quota_near_the_limit_warns(api, headers, emulator: EmulatorControl):
    tables = [f"big.s{i // 100}.t{i}" for i in range(950)]
    emulator.seed_tables(tables)

    def big(pack):
        pack["share"] = [{"name": "big_share", "recipients": ["acme_analytics"], "data_objects": tables}]
        pack["recipient"] = pack["recipient"][:1]

    body = post_file(api(), "validate", headers, edited(big)).json

    assert body["Valid"] is True, body["ValidationErrors"]
    assert any("1000" in w["message"] and "big_share" in w["message"] for w in body["ValidationWarnings"])


def test_file_errors_answer_without_reading_the_workspace(api, headers, emulator: EmulatorControl):
    emulator.clear_requests()

    body = post_file(api(), "validate", headers, b"metadata: {}\n").json

    assert body["Valid"] is False and body["ValidationErrors"] and body["Plan"] is None
    assert emulator.requests() == []


def test_unreadable_workspace_answers_503(api, headers, emulator: EmulatorControl):
    emulator.inject_fault(path_regex="metastore_summary", status=403, error_code="PERMISSION_DENIED", times=None)

    response = post_file(api(), "validate", headers, sample())

    assert response.status_code == 503
    assert "PERMISSION_DENIED" in response.json["Message"] or "cannot be read" in response.json["Message"]


def test_without_credentials_only_the_file_is_checked(app_factory, headers, emulator: EmulatorControl, queue):
    from tests.integration.api.conftest import make_settings

    client = app_factory(make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url))
    emulator.clear_requests()

    body = post_file(client, "validate", headers, sample()).json

    assert body["Valid"] is True and body["Plan"] is None
    assert any("no Databricks credentials" in w["message"] for w in body["ValidationWarnings"])
    assert emulator.requests() == []


@pytest.mark.parametrize("route", ["validate", "upload"])
def test_a_caller_who_may_not_upload_here_learns_nothing_of_the_workspace(
    route, api, headers, emulator: EmulatorControl
):
    """What a workspace holds (its tables, other packs' objects in a plan) is only for its uploaders."""
    emulator.seed_tables(EXAMPLE_TABLES)
    emulator.clear_requests()
    outsider = api(api_keys="tester=unused-key-0123456789abcdef01234,outsider=outsider-key-0123456789abcdef01234")
    their_headers = {**headers, "Authorization": "Bearer outsider-key-0123456789abcdef01234"}

    response = post_file(outsider, route, their_headers, sample())

    assert response.status_code == 403, response.json
    assert "Plan" not in response.json and "ValidationErrors" not in response.json
    assert emulator.requests() == []  # refused before the workspace was read
