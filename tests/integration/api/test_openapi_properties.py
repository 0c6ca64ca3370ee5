"""Property-based run of the whole API from its own OpenAPI document (schemathesis), on the real PostgreSQL.

Every operation gets generated inputs, valid and invalid: no answer may be a 5xx, and every answer must be one
the document declares, with the declared content type and body schema. The run is bounded (examples per
operation, no per-example deadline) so it stays well under a minute
(about 15 s of requests on a loaded 2-core machine).
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import sessionmaker

from api import create_app
from emulator.server import DEMO_TABLES
from shared.health import HealthReport
from tests.integration.api.conftest import RecordingPublisher, make_settings
from tests.integration.api.test_share_pack_routes import sample, upload
from tests.integration.provisioning.conftest import clients  # noqa: F401 (fixture)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _document_only_app() -> Flask:
    """An app that only serves its OpenAPI document: loading the schema touches no database or queue.

    (`schemathesis.pytest.from_fixture` would load it from the test's own app, but does not run on pytest 9.2.)
    """
    return create_app(
        make_settings(),
        session_factory=sessionmaker(),
        publisher=RecordingPublisher(),
        health_check=lambda: HealthReport(False, False, 0, ("not connected",)),
    )


schema = schemathesis.openapi.from_wsgi("/workflow/openapi.json", _document_only_app())


BOUNDED = settings(
    deadline=None,  # one example may wait on PostgreSQL; the run is bounded by the number of examples
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def client(app_factory, clients, emulator) -> FlaskClient:  # noqa: F811
    """The API reading the emulated workspace (with the example's tables), so the views that read a workspace
    (pre-flight, inventory) answer from a real one instead of 503."""
    emulator.seed_tables(DEMO_TABLES)
    return app_factory(reader_for=lambda _url: clients.gateway(emulator.url))


@pytest.fixture
def stored_pack_id(client: FlaskClient, headers: dict[str, str]) -> str:
    """A real pack (in the test's rolled-back transaction), so the by-id views run on real rows too."""
    response = upload(client, headers, sample())
    assert response.status_code == 202, response.json
    return response.json["SharePackId"]


@schema.parametrize()
@schema.given(use_stored_pack=st.booleans())
@settings(BOUNDED, max_examples=60)
def test_no_server_error_and_every_response_is_documented(
    case: schemathesis.Case,
    use_stored_pack: bool,
    client: FlaskClient,
    headers: dict[str, str],
    stored_pack_id: str,
) -> None:
    """With valid credentials and a known workspace, so generated input reaches the views."""
    if use_stored_pack and case.path_parameters and "share_pack_id" in case.path_parameters:
        case.path_parameters["share_pack_id"] = stored_pack_id
    case.call_and_validate(headers=headers, checks=CHECKS, app=client.application)


@schema.exclude(path_regex="/health").parametrize()
@settings(BOUNDED, max_examples=20)
def test_any_workspace_header_is_answered_as_documented(
    case: schemathesis.Case, client: FlaskClient, headers: dict[str, str]
) -> None:
    """With valid credentials and a generated X-Workspace-URL (valid or not)."""
    case.call_and_validate(headers={"Authorization": headers["Authorization"]}, checks=CHECKS, app=client.application)
