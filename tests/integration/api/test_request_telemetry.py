"""The API's request spans, as Application Insights receives them: each request's envelope, made by the
Azure Monitor exporter's own conversion, names its method, route, URL, result code and client.

Behind the production ingress (one trusted proxy hop) the URL is the HTTPS one the client used and the
client is the address the ingress saw; a client's own X-Forwarded-* claims beyond that hop are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from shared.platform import tracing
from shared.platform.settings import Settings
from tests.integration.api.conftest import make_settings
from tests.support.telemetry import EnvelopeRecorder

_recorder: EnvelopeRecorder | None = None
UNKNOWN_PACK = "/workflow/sharepack/00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def envelopes() -> EnvelopeRecorder:
    """Every span this process ends, masked and converted (added once: a provider keeps its processors)."""
    global _recorder
    if _recorder is None:
        _recorder = EnvelopeRecorder()
        provider = tracing.configure(Settings(), "tests")
        provider.add_span_processor(SimpleSpanProcessor(tracing.MaskingSpanExporter(_recorder)))
    _recorder.envelopes.clear()
    return _recorder


def only_request(envelopes: EnvelopeRecorder) -> dict:
    [request] = envelopes.requests()
    return request


def test_a_request_envelope_carries_method_route_url_and_result_code(client, headers, envelopes) -> None:
    response = client.get(UNKNOWN_PACK, headers={**headers, "User-Agent": "curl/8.5.0"})
    assert response.status_code == 404
    request = only_request(envelopes)
    data = request["data"]["baseData"]
    assert data["name"] == "GET /workflow/sharepack/<string:share_pack_id>"
    assert request["tags"]["ai.operation.name"] == "GET /workflow/sharepack/<string:share_pack_id>"
    assert data["url"] == f"http://localhost{UNKNOWN_PACK}"
    assert data["responseCode"] == "404"
    assert request["tags"]["ai.user.userAgent"] == "curl/8.5.0"
    assert data["properties"]["request_id"] == response.headers["X-Request-ID"]


def test_an_answered_request_is_a_success(client, envelopes) -> None:
    assert client.get("/workflow/health").status_code == 200
    data = only_request(envelopes)["data"]["baseData"]
    assert (data["name"], data["responseCode"], data["success"]) == ("GET /workflow/health", "200", True)


def test_a_server_error_is_a_failed_request(app_factory: Callable[..., FlaskClient], headers, envelopes) -> None:
    def broken() -> bool:
        raise RuntimeError("database unreachable: postgresql://app:hunter2-secret@db/sharepack")

    client = app_factory(readiness_check=broken)
    response = client.get("/workflow/health/ready")
    data = only_request(envelopes)["data"]["baseData"]
    assert response.status_code >= 500
    assert (data["responseCode"], data["success"]) == (str(response.status_code), False)
    assert "hunter2-secret" not in json.dumps(envelopes.envelopes)


def test_the_query_string_is_not_exported(client, headers, envelopes) -> None:
    client.get("/console/sign-in/microsoft/callback?code=0.AAAA-authorization-code&state=s")
    data = only_request(envelopes)["data"]["baseData"]
    assert data["url"] == "http://localhost/console/sign-in/microsoft/callback"
    assert "authorization-code" not in json.dumps(envelopes.envelopes)


def test_behind_the_ingress_the_url_is_https_and_the_client_is_the_one_the_ingress_saw(
    app_factory: Callable[..., FlaskClient], headers, envelopes
) -> None:
    client = app_factory(make_settings(deployment="production", console_secret_key="k" * 32))
    # The client claims an address and a scheme of its own; the ingress appends what it saw.
    client.get(UNKNOWN_PACK, headers={**headers, "X-Forwarded-For": "10.0.0.1, 203.0.113.9",
                                      "X-Forwarded-Proto": "http, https"})
    request = only_request(envelopes)
    assert request["data"]["baseData"]["url"] == f"https://localhost{UNKNOWN_PACK}"
    assert request["tags"]["ai.location.ip"] == "203.0.113.9"


def test_in_development_no_proxy_is_trusted(client, headers, envelopes) -> None:
    client.get(UNKNOWN_PACK, headers={**headers, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    request = only_request(envelopes)
    assert request["data"]["baseData"]["url"] == f"http://localhost{UNKNOWN_PACK}"
    assert request["tags"]["ai.location.ip"] == "127.0.0.1"
