"""Property-based run of the whole API from its own OpenAPI document (schemathesis), on the real PostgreSQL.

Every operation gets generated inputs, valid and invalid, and every check schemathesis has for one answer:
no 5xx; every answer declared, with its content type, headers and body schema; input the document allows is
accepted and input it forbids is refused; a missing required header, an undeclared method (405 with `Allow`)
and missing or bad credentials are refused. The run is bounded (examples per operation, no per-example
deadline) so it stays around a minute on a loaded 2-core machine.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import is_check_class, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import sessionmaker

from api import create_app
from api.context import Services
from dev.emulator.server import DEMO_TABLES
from shared.platform.health import HealthReport
from tests.integration.api.conftest import RecordingPublisher, make_settings
from tests.integration.api.test_share_pack_routes import sample, upload
from tests.integration.provisioning.conftest import clients  # noqa: F401 (fixture)

load_all_checks()
# Every check that judges one answer (the class-based ones judge a stateful run's sequence of calls, which
# this test does not make).
CHECKS = [check for check in REGISTERED_CHECKS.get_all() if not is_check_class(check)]

# Where "the server accepts whatever the document allows" cannot hold, and why (no other check is skipped):
SCHEMA_CANNOT_SAY_VALID = {
    # The file is a share pack: its rules (YAML or Excel grammar, references between its sections, the
    # workspace's tables and the caller's projects) are not expressible in JSON Schema, so a generated file
    # is refused with 400 (or 415 for a zip that is no workbook), naming the line or cell.
    "POST /workflow/sharepack/upload",
    "POST /workflow/sharepack/validate",
    "POST /workflow/sharepack/{share_pack_id}/upload",
    # References to what must exist, which no static document can list: WorkspaceUrl must name a workspace
    # this deployment has configured or an administrator registered; a group is an Entra group's object id
    # or a local group made by PUT /workflow/groups/{group_name}. An unknown one is refused with 400.
    "POST /workflow/imports",
    "PUT /workflow/tenants/{business_line}",
    "PUT /workflow/tenants/{business_line}/projects/{project_name}",
}


def _document_only_app() -> Flask:
    """An app that only serves its OpenAPI document: loading the schema touches no database or queue.

    (`schemathesis.pytest.from_fixture` would load it from the test's own app, but does not run on pytest 9.2.)
    """
    return create_app(
        Services(
            make_settings(),
            session_factory=sessionmaker(),
            publisher=RecordingPublisher(),
            health_check=lambda: HealthReport(False, False, 0, ("not connected",)),
        ),
    )


schema = schemathesis.openapi.from_wsgi("/workflow/openapi.json", _document_only_app())


BOUNDED = settings(
    deadline=None,  # one example may wait on PostgreSQL; the run is bounded by the number of examples
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def client(app_factory, clients, emulator, queue) -> FlaskClient:  # noqa: F811
    """The API reading the emulated workspace (with the example's tables), so the views that read a workspace
    (pre-flight, inventory) answer from a real one instead of 503.

    Its rate limits are far above the run's: schemathesis sends hundreds of requests with one key and, to
    check that bad credentials are refused with 401, many bad keys from one address, which the lockout would
    otherwise answer with 429 (`tests/integration/api/test_rate_limits.py` tests the limits themselves).
    """
    emulator.seed_tables(DEMO_TABLES)
    settings = make_settings(azure_queue_name=queue.name, failed_sign_ins_allowed="1000000",
                             api_key_requests_per_minute="1000000")
    return app_factory(settings, reader_for=lambda _url: clients.gateway(emulator.url))


@pytest.fixture
def stored_pack_id(client: FlaskClient, headers: dict[str, str]) -> str:
    """A real pack (in the test's rolled-back transaction), so the by-id views run on real rows too."""
    response = upload(client, headers, sample())
    assert response.status_code == 202, response.json
    return response.json["SharePackId"]


@schema.parametrize()
@schema.given(use_stored_pack=st.booleans())
@settings(BOUNDED, max_examples=25)
def test_no_server_error_and_every_response_is_documented(
    case: schemathesis.Case,
    use_stored_pack: bool,
    client: FlaskClient,
    headers: dict[str, str],
    stored_pack_id: str,
) -> None:
    """With valid credentials and a known workspace, so generated input reaches the views."""
    if use_stored_pack and case.path_parameters and "share_pack_id" in case.path_parameters and not negative_at(
            case, ParameterLocation.PATH):
        case.path_parameters["share_pack_id"] = stored_pack_id
    excluded = [positive_data_acceptance] if case.operation.label in SCHEMA_CANNOT_SAY_VALID else []
    case.call_and_validate(headers=valid_unless_negative(case, headers), checks=CHECKS, excluded_checks=excluded,
                           app=client.application)


@schema.exclude(path_regex="/health").parametrize()
@settings(BOUNDED, max_examples=10)
def test_any_workspace_header_is_answered_as_documented(
    case: schemathesis.Case, client: FlaskClient, headers: dict[str, str]
) -> None:
    """With valid credentials and a generated X-Workspace-URL (valid or not).

    Any URL the header's pattern allows is well-formed, but only this deployment's configured workspaces and
    the ones administrators register at run time are known (an unknown one is refused with 400): no static
    document can list them, so whether a generated one is accepted is not the document's to say.
    """
    case.call_and_validate(headers=valid_unless_negative(case, {"Authorization": headers["Authorization"]}),
                           checks=CHECKS, excluded_checks=[positive_data_acceptance], app=client.application)


def negative_at(case: schemathesis.Case, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def valid_unless_negative(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, str] | None:
    """The valid headers to send, unless the case's headers are the invalid input it tests (our valid ones
    would replace them, and the checks would judge a valid request as an invalid one)."""
    return None if negative_at(case, ParameterLocation.HEADER) else headers
