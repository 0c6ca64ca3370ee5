"""One verdict everywhere: for a pack the upload refuses, the dry run refuses it with the same errors.

Each case breaks one rule of the upload (the file, Azure AD, the workspace's pre-flight, the token
lifetime, who may upload) and sends the same file to `POST /workflow/sharepack/upload` and to the dry run
`POST /workflow/sharepack/validate` of one app, whose directory is the Graph emulator and whose workspace
is the workspace emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from dev.emulator.control import EmulatorControl
from dev.graph_emulator.control import GraphEmulatorControl
from shared.graph.client import GraphClient
from shared.graph.validator import AdValidator
from shared.provisioning.clients import WorkspaceClients
from tests.integration.api.conftest import make_settings
from tests.integration.preflight.conftest import EXAMPLE_TABLES, edited, post_file, sample

REQUESTOR = {"userPrincipalName": "jane.doe@example.com", "mail": "jane.doe@example.com", "accountEnabled": True}


@pytest.fixture
def app(app_factory: Callable[..., FlaskClient], clients: WorkspaceClients, emulator: EmulatorControl, queue: Any,
        graph: GraphEmulatorControl, graph_client: GraphClient) -> FlaskClient:
    emulator.seed_tables(EXAMPLE_TABLES)
    settings = make_settings(azure_queue_name=queue.name, dev_workspace_urls=emulator.url, token_expiry_max_days="30")
    return app_factory(settings, reader_for=clients.gateway, directory_validator=AdValidator(graph_client))


def errors(answer: Any) -> list[tuple[str, str]]:
    return sorted((e["path"], e["message"]) for e in answer.json.get("ValidationErrors") or [])


def with_token_days(days: int) -> bytes:
    def change(pack: dict[str, Any]) -> None:
        pack["recipient"][0]["token_expiry_days"] = days

    return edited(change)


def with_missing_table(pack: dict[str, Any]) -> None:
    pack["share"][0]["data_objects"].append("sales.reporting.no_such_table")


@pytest.mark.parametrize(("rule", "content", "requestor"), [
    ("file", b"metadata: {}\n", REQUESTOR),
    ("token lifetime", with_token_days(90), REQUESTOR),
    ("Azure AD", sample(), {**REQUESTOR, "accountEnabled": False}),
    ("pre-flight", edited(with_missing_table), REQUESTOR),
])
def test_the_dry_run_refuses_what_the_upload_refuses_with_the_same_errors(
    app: FlaskClient, headers: dict[str, str], graph: GraphEmulatorControl, rule: str, content: bytes,
    requestor: dict[str, Any],
) -> None:
    graph.seed(users=[requestor])

    checked = post_file(app, "validate", headers, content)
    uploaded = post_file(app, "upload", headers, content)

    assert uploaded.status_code == 400, (rule, uploaded.json)
    assert checked.json["Valid"] is False, (rule, checked.json)
    assert errors(checked) == errors(uploaded) != [], rule


def test_a_pack_the_upload_accepts_is_valid_in_the_dry_run(
    app: FlaskClient, headers: dict[str, str], graph: GraphEmulatorControl
) -> None:
    graph.seed(users=[REQUESTOR])

    checked = post_file(app, "validate", headers, with_token_days(30))

    assert checked.json["Valid"] is True and errors(checked) == []
    assert post_file(app, "upload", headers, with_token_days(30)).status_code == 202


def test_a_caller_who_may_not_upload_is_refused_by_both_alike(
    app: FlaskClient, headers: dict[str, str], graph: GraphEmulatorControl
) -> None:
    graph.seed(users=[REQUESTOR])
    def elsewhere_pack(pack: dict[str, Any]) -> None:
        pack["metadata"]["business_line"] = "Not registered"
        pack["recipient"][0]["token_expiry_days"] = 30

    elsewhere = edited(elsewhere_pack)

    checked = post_file(app, "validate", headers, elsewhere)
    uploaded = post_file(app, "upload", headers, elsewhere)

    assert checked.status_code == uploaded.status_code and 400 <= uploaded.status_code < 500, (checked.json,
                                                                                              uploaded.json)
    assert checked.json["Message"] == uploaded.json["Message"]
