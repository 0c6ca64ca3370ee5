"""The console's pages on the real PostgreSQL, through Flask's test client: the rules a browser cannot show.

(The journeys themselves run in chromium: tests/browser.)
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from api.security_headers import SECURITY_HEADERS
from dev.graph_emulator.control import GraphEmulatorControl
from shared.graph.client import GraphClient
from shared.graph.validator import AdValidator
from shared.share_pack_file import to_yaml
from shared.share_pack_file.sample import sample_share_pack
from tests.integration.api.conftest import API_KEY, AZURE_WORKSPACE, LOCAL_WORKSPACE, make_settings

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def client(app_factory: Callable[..., FlaskClient]) -> FlaskClient:
    return app_factory()


def csrf_of(client: FlaskClient, path: str = "/console/sign-in") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, "every console page carries the CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, workspace: str = LOCAL_WORKSPACE, **extra: str):
    form = {"csrf_token": csrf_of(client), "api_key": API_KEY, "workspace_url": workspace, **extra}
    return client.post("/console/sign-in", data=form)


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for path in ("/console/sign-in", "/workflow/health", "/workflow/docs", "/workflow/openapi.json"):
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


def test_pages_need_a_session_and_send_the_caller_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/console/packs?status=FAILED")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/sign-in?next=/console/packs")


def test_a_wrong_key_is_refused_with_a_message_and_no_session(client: FlaskClient) -> None:
    form = {"csrf_token": csrf_of(client), "api_key": "wrong-key-12345", "workspace_url": LOCAL_WORKSPACE}
    response = client.post("/console/sign-in", data=form)
    assert response.status_code == 401
    assert "Invalid credentials" in response.get_data(as_text=True)
    assert client.get("/console/packs").status_code == 302


def test_an_unknown_workspace_is_refused_at_sign_in(client: FlaskClient) -> None:
    response = sign_in(client, workspace="https://evil.example.com")
    assert response.status_code == 400


def test_a_form_without_the_csrf_token_is_refused(client: FlaskClient) -> None:
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"api_key": API_KEY, "workspace_url": LOCAL_WORKSPACE})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_the_session_cookie_is_http_only_same_site_and_secure_over_https(
    app_factory: Callable[..., FlaskClient],
) -> None:
    for base_url, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app_factory()
        csrf = CSRF.search(client.get("/console/sign-in", base_url=base_url).get_data(as_text=True)).group(1)
        response = client.post(
            "/console/sign-in", base_url=base_url,
            data={"csrf_token": csrf, "api_key": API_KEY, "workspace_url": LOCAL_WORKSPACE},
        )
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


@pytest.mark.parametrize("target", ["https://evil.example/console/", "//evil.example/console/", "/workflow/x"])
def test_sign_in_never_redirects_outside_the_console(client: FlaskClient, target: str) -> None:
    response = sign_in(client, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/packs"


def test_a_pack_of_another_workspace_is_not_found(client: FlaskClient) -> None:
    uploaded = client.post(
        "/workflow/sharepack/upload",
        data={"file": (io.BytesIO(to_yaml(sample_share_pack()).encode()), "pack.yaml")},
        headers={"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": AZURE_WORKSPACE},
        content_type="multipart/form-data",
    )
    share_pack_id = uploaded.json["SharePackId"]
    sign_in(client, workspace=LOCAL_WORKSPACE)
    for path in ("", "/progress", "/diff?from=1&to=1"):
        assert client.get(f"/console/packs/{share_pack_id}{path}").status_code == 404
    assert share_pack_id not in client.get("/console/packs").get_data(as_text=True)


def test_bad_input_answers_4xx_pages(client: FlaskClient) -> None:
    sign_in(client)
    csrf = csrf_of(client, "/console/upload")
    assert client.get("/console/packs?page=0").status_code == 400
    assert client.get("/console/packs?status=NOPE").status_code == 400
    assert client.get("/console/packs/not-a-uuid").status_code == 404
    assert client.post("/console/upload/check", data={"csrf_token": csrf}).status_code == 400
    unreadable = client.post(
        "/console/upload/check", data={"csrf_token": csrf, "file": (io.BytesIO(b"\x00\x01binary"), "pack.pdf")},
        content_type="multipart/form-data",
    )
    assert unreadable.status_code == 415
    garbled = client.post("/console/upload/submit", data={"csrf_token": csrf, "content": "%%%", "filename": "a.yaml"})
    assert garbled.status_code == 400


def test_a_file_that_breaks_the_rules_is_not_stored_when_submitted(client: FlaskClient) -> None:
    sign_in(client)
    csrf = csrf_of(client, "/console/upload")
    bad = base64.b64encode(b"metadata: {}\n").decode()
    response = client.post("/console/upload/submit", data={"csrf_token": csrf, "content": bad, "filename": "a.yaml"})
    assert response.status_code == 422
    assert "0 share packs" in client.get("/console/packs").get_data(as_text=True)


def test_a_valid_upload_is_checked_then_submitted_and_listed(client: FlaskClient) -> None:
    sign_in(client)
    csrf = csrf_of(client, "/console/upload")
    checked = client.post(
        "/console/upload/check",
        data={"csrf_token": csrf, "file": (io.BytesIO(to_yaml(sample_share_pack()).encode()), "pack.yaml")},
        content_type="multipart/form-data",
    )
    assert checked.status_code == 200
    content = re.search(r'name="content" value="([^"]+)"', checked.get_data(as_text=True)).group(1)
    submitted = client.post(
        "/console/upload/submit", data={"csrf_token": csrf, "content": content, "filename": "pack.yaml"}
    )
    assert submitted.status_code == 302
    page = client.get(submitted.headers["Location"])
    assert page.status_code == 200 and "Queued for provisioning" in page.get_data(as_text=True)
    progress = client.get(submitted.headers["Location"] + "/progress").json
    assert progress == {
        "status": "IN_PROGRESS", "provisioning_status": "Queued for provisioning", "step": 0, "total": 8,
        "error_message": None, "final": False,
    }
    assert "1 share pack<" in client.get("/console/packs?project=partner+analytics").get_data(as_text=True)


def test_decline_needs_a_comment_and_only_approvers_decide(client: FlaskClient) -> None:
    sign_in(client)
    csrf = csrf_of(client, "/console/upload")
    unknown = "00000000-0000-0000-0000-000000000000"
    response = client.post(f"/console/packs/{unknown}/decline", data={"csrf_token": csrf, "comment": "  "})
    assert response.status_code == 400
    assert "Say why you decline" in response.get_data(as_text=True)
    response = client.post(f"/console/packs/{unknown}/approve", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert client.get("/console/approvals").status_code == 200


def test_a_session_ends_when_its_api_key_is_removed(app_factory: Callable[..., FlaskClient]) -> None:
    secret = "s" * 64  # both apps sign alike: only the removed key can end the session
    client = app_factory(make_settings(console_secret_key=secret))
    sign_in(client)
    cookie = client.get_cookie("sharepack_console", path="/console")
    assert cookie is not None
    same = app_factory(make_settings(console_secret_key=secret))
    same.set_cookie(cookie.key, cookie.value, path="/console")
    assert same.get("/console/packs").status_code == 200
    rotated = app_factory(make_settings(console_secret_key=secret,
                                        api_keys="someone-else=another-key-0123456789abcdef01234"))
    rotated.set_cookie(cookie.key, cookie.value, path="/console")
    assert rotated.get("/console/packs").status_code == 302


def test_the_docs_page_loads_swagger_ui_from_this_origin(client: FlaskClient) -> None:
    page = client.get("/workflow/docs").get_data(as_text=True)
    assert "cdn" not in page.lower()
    assert "/workflow/docs/swagger-ui/swagger-ui-bundle.js" in page
    assert client.get("/workflow/docs/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/workflow/docs/swagger-ui/package.json").status_code == 404  # only the UI's files


def test_a_refused_submit_shows_its_own_errors_in_the_file(
    app_factory: Callable[..., FlaskClient], graph: GraphEmulatorControl, graph_client: GraphClient
) -> None:
    graph.seed(users=[{"userPrincipalName": "jane.doe@example.com", "accountEnabled": False}])
    client = app_factory(directory_validator=AdValidator(graph_client))
    sign_in(client)
    csrf = csrf_of(client, "/console/upload")
    content = base64.b64encode(to_yaml(sample_share_pack()).encode()).decode()

    refused = client.post("/console/upload/submit", data={"csrf_token": csrf, "content": content,
                                                          "filename": "pack.yaml"})

    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "jane.doe@example.com is disabled in Azure AD" in page and "1 error" in page
    assert "<code>metadata.requestor</code>" in page  # where in the file
