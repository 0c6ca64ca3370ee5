"""What the OpenAPI document promises a generated client, read from the document itself (no database needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import sessionmaker

from api import create_app
from api.context import Services
from api.openapi import OPERATION_IDS
from shared.platform.health import HealthReport
from shared.platform.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def app() -> Flask:
    settings = Settings.from_env({"api_keys": "tester=test-api-key-0123456789abcdef01234",
                                  "dev_workspace_urls": "http://127.0.0.1:8001", "queue_backend": "postgres",
                                  "domain_db_connection_string": "postgresql://unused/unused"}, dotenv_path=None)
    return create_app(Services(settings, session_factory=sessionmaker(), publisher=_NoPublisher(),
                               health_check=lambda: HealthReport(True, True, 16, ())))


@pytest.fixture(scope="module")
def document(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/workflow/openapi.json").json


class _NoPublisher:
    def notify(self, outbox_id: int) -> None:
        raise AssertionError("nothing is published by reading the document")


def operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def test_every_operation_has_its_own_stable_verb_noun_operation_id(document):
    ids = {(method, path): operation.get("operationId") for method, path, operation in operations(document)}

    assert ids == {key: OPERATION_IDS[key] for key in ids}, "name each new route in api.openapi.OPERATION_IDS"
    assert len(set(ids.values())) == len(ids)


def test_health_needs_no_credentials_and_everything_else_does(document):
    for method, path, operation in operations(document):
        public = path.startswith("/workflow/health")
        assert (operation.get("security") == []) is public, (method, path)
    assert document["security"] == [{"bearer": []}]


def test_one_status_for_refused_input_and_the_headers_each_status_promises(document):
    components = document["components"]["responses"]
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        if "202" in responses:
            assert "Location" in responses["202"]["headers"], (method, path)
        for status in ("429", "503"):
            if status in responses:
                response = responses[status]
                named = components[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
                assert "Retry-After" in named["headers"], (method, path, status)


def test_the_plan_is_typed_and_statuses_are_enumerated(document):
    schemas = document["components"]["schemas"]
    # Null until planned, else a Plan: no branch lets any other object through.
    assert schemas["PlanResponse"]["properties"]["Plan"] == {"allOf": [{"$ref": "#/components/schemas/Plan"}],
                                                             "nullable": True}
    assert schemas["PlanChange"]["properties"]["action"]["enum"]
    assert set(schemas["PlanSteps"]["properties"]) == {"recipients", "shares", "data_objects", "grants", "pipelines",
                                                        "schedules"}
    for name in ("SharePackStatus", "SharePack", "UploadResponse", "PlanResponse"):
        assert "IN_PROGRESS" in schemas[name]["properties"]["Status"]["enum"], name


def test_uploads_and_revisions_take_an_idempotency_key(document):
    for path in ("/workflow/sharepack/upload", "/workflow/sharepack/{share_pack_id}/upload"):
        names = {p["name"] for p in document["paths"][path]["parameters"]}
        assert "Idempotency-Key" in names, path


@pytest.mark.parametrize("path", ["/workflow/health", "/workflow/sharepack/upload", "/workflow/sharepacks"])
def test_an_undeclared_method_is_405_with_allow(app, path):
    response = app.test_client().open(path, method="TRACE")

    assert response.status_code == 405
    assert response.headers["Allow"], json.dumps(response.json)
