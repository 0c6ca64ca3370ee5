"""The console's "Sign in with Microsoft" against the Graph emulator's Entra endpoints, over real HTTP.

The browser's part (following redirects, picking a user) is played with requests against the emulator and
Flask's test client against the console; the console redeems codes and fetches keys over HTTP itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from api.console.oidc import EntraSignIn
from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.identity import CODE_LIFETIME_SECONDS, CONSOLE_CLIENT_ID, CONSOLE_CLIENT_SECRET
from shared.platform.errors import Unauthenticated
from tests.integration.api.conftest import LOCAL_WORKSPACE, make_settings
from tests.support.graph_emulator import GRAPH_TENANT

REDIRECT_URI = "http://localhost/console/sign-in/microsoft/callback"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
ANN = "ann@contoso.example"


def entra_settings(graph_url: str, **overrides: str):
    return make_settings(
        console_entra_client_id=CONSOLE_CLIENT_ID,
        console_entra_client_secret=CONSOLE_CLIENT_SECRET,
        console_entra_authority=f"{graph_url}/{GRAPH_TENANT}",
        console_entra_redirect_uri=REDIRECT_URI,
        # The app's Graph access, for the group overage.
        azure_tenant_id=GRAPH_TENANT,
        graph_client_id=DEFAULT_CLIENT_ID,
        graph_client_secret=DEFAULT_CLIENT_SECRET,
        graph_base_url=graph_url,
        graph_authority_host=graph_url,
        **overrides,
    )


@pytest.fixture
def seeded(graph: GraphEmulatorControl) -> dict[str, list[str]]:
    return graph.seed(
        users=[{"userPrincipalName": ANN, "displayName": "Ann Example"}],
        groups=[{"displayName": "Finance configurators", "members": [ANN]}],
    )


@pytest.fixture
def console(app_factory: Callable[..., FlaskClient], graph: GraphEmulatorControl) -> FlaskClient:
    return app_factory(entra_settings(graph.url))


def start(client: FlaskClient, **form: str) -> str:
    """Press "Sign in with Microsoft": the authorize URL the console sends the browser to."""
    csrf = CSRF.search(client.get("/console/sign-in").text)
    assert csrf
    response = client.post("/console/sign-in/microsoft",
                           data={"csrf_token": csrf.group(1), "workspace_url": LOCAL_WORKSPACE, **form})
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def pick(authorize_url: str, user: str = ANN, **changes: str) -> dict[str, str]:
    """Pick `user` on the emulator's page; the query the emulator sends the browser back with."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()} | changes
    base = authorize_url.split("?")[0]
    response = requests.post(base, data={**query, "user": user}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def callback(client: FlaskClient, answer: dict[str, str]):
    return client.get(f"/console/sign-in/microsoft/callback?{urlencode(answer)}")


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def session_of(client: FlaskClient) -> dict:
    cookie = client.get_cookie("sharepack_console", path="/console")
    assert cookie is not None
    app = client.application
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def test_sign_in_lands_on_the_packs_page_and_the_session_holds_the_principal_not_a_token(console, seeded):
    authorize = start(console)
    sent = parse_qs(urlsplit(authorize).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["response_mode"] == ["query"]
    assert sent["state"] and sent["nonce"] and sent["redirect_uri"] == [REDIRECT_URI]
    answer = pick(authorize)
    response = callback(console, answer)
    assert response.status_code == 302 and response.headers["Location"] == "/console/packs"
    page = console.get("/console/packs")
    assert page.status_code == 200 and ANN in page.text
    stored = session_of(console)
    principal = stored["principal"]
    assert principal["key"] == f"entra:{GRAPH_TENANT}/{seeded['users'][0]}"
    assert principal["token_groups"] == seeded["groups"] and principal["method"] == "entra"
    assert stored["workspace_url"] == LOCAL_WORKSPACE
    assert "entra_pending" not in stored
    assert answer["code"] not in repr(stored) and "eyJ" not in repr(stored)  # no code, no JWT


def test_the_sign_in_page_offers_microsoft_only_when_configured(app_factory, graph):
    assert "Sign in with Microsoft" in app_factory(entra_settings(graph.url)).get("/console/sign-in").get_data(
        as_text=True)
    plain = app_factory().get("/console/sign-in").text
    assert "Sign in with Microsoft" not in plain and "API key" in plain


def test_next_survives_the_round_trip(console, seeded):
    answer = pick(start(console, next="/console/upload"))
    assert callback(console, answer).headers["Location"] == "/console/upload"


def test_cancelling_at_microsoft_ends_on_the_sign_in_page(console, seeded):
    authorize = start(console)
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    response = requests.post(authorize.split("?")[0], data={**query, "cancel": "1"}, allow_redirects=False,
                             timeout=10)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert answer["error"] == "access_denied" and answer["state"] == query["state"]
    refused = callback(console, answer)
    assert refused.status_code == 401
    assert "Sign-in with Microsoft was cancelled." in refused.text
    assert console.get("/console/packs").status_code == 302  # not signed in


def test_an_answer_with_another_state_is_refused(console, seeded):
    answer = pick(start(console))
    refused = callback(console, {**answer, "state": "forged-state"})
    assert refused.status_code == 400
    assert "does not belong to the sign-in you started" in refused.text
    # The pending sign-in is spent: the genuine answer cannot be replayed afterwards either.
    assert callback(console, answer).status_code == 400


def test_an_answer_with_a_non_ascii_state_is_refused_not_a_500(console, seeded):
    answer = pick(start(console))

    refused = callback(console, {**answer, "state": "\u00e9tat-forg\u00e9"})

    assert refused.status_code == 400
    assert "does not belong to the sign-in you started" in refused.text


def test_an_answer_nobody_started_here_is_refused(console, seeded, app_factory, graph):
    answer = pick(start(console))
    stranger = app_factory(entra_settings(graph.url))  # another browser: no pending sign-in
    refused = callback(stranger, answer)
    assert refused.status_code == 400 and "not started in this browser" in refused.text


def test_an_expired_code_is_refused(console, seeded, graph):
    answer = pick(start(console))
    graph.advance_clock(CODE_LIFETIME_SECONDS + 1)
    refused = callback(console, answer)
    assert refused.status_code == 401 and "code expired" in refused.text


def test_a_code_redeemed_before_is_refused(console, seeded, graph):
    answer = pick(start(console))
    # Someone else redeems the code first (with the right secret but no verifier: the code is still spent).
    stolen = requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/token", timeout=10, data={
        "client_id": CONSOLE_CLIENT_ID, "client_secret": CONSOLE_CLIENT_SECRET, "grant_type": "authorization_code",
        "code": answer["code"], "redirect_uri": REDIRECT_URI, "code_verifier": "not-the-verifier",
    })
    assert stolen.json()["error_codes"] == [501481]
    refused = callback(console, answer)
    assert refused.status_code == 401 and "already completed once" in refused.text


def test_an_id_token_with_another_nonce_is_refused(console, seeded):
    authorize = start(console)
    # The same state and PKCE challenge, but a nonce of someone else's sign-in.
    answer = pick(authorize, nonce="someone-elses-nonce")
    refused = callback(console, answer)
    assert refused.status_code == 401
    assert "its nonce is not this sign-in's" in page_text(refused)


def test_an_unreachable_identity_provider_is_503_on_the_sign_in_page(app_factory):
    client = app_factory(entra_settings("http://127.0.0.1:9"))
    csrf = CSRF.search(client.get("/console/sign-in").text)
    assert csrf
    response = client.post("/console/sign-in/microsoft",
                           data={"csrf_token": csrf.group(1), "workspace_url": LOCAL_WORKSPACE})
    assert response.status_code == 503 and "cannot be reached" in response.text


def test_an_unknown_workspace_stays_on_the_sign_in_page(console):
    csrf = CSRF.search(console.get("/console/sign-in").text)
    assert csrf
    response = console.post("/console/sign-in/microsoft",
                            data={"csrf_token": csrf.group(1), "workspace_url": "http://127.0.0.1:1"})
    assert response.status_code == 400 and "Sign in" in response.text


def test_starting_without_the_csrf_token_is_refused(console):
    assert console.post("/console/sign-in/microsoft", data={"workspace_url": LOCAL_WORKSPACE}).status_code == 400


# -- the ID token's checks, against the emulator's real keys --------------------------------------------


def real_id_token(graph_url: str, user_id: str, nonce: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    base = f"{graph_url}/{GRAPH_TENANT}/oauth2/v2.0"
    picked = requests.post(f"{base}/authorize", allow_redirects=False, timeout=10, data={
        "client_id": CONSOLE_CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "s", "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256", "user": user_id,
    })
    code = parse_qs(urlsplit(picked.headers["Location"]).query)["code"][0]
    redeemed = requests.post(f"{base}/token", timeout=10, data={
        "client_id": CONSOLE_CLIENT_ID, "client_secret": CONSOLE_CLIENT_SECRET, "grant_type": "authorization_code",
        "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
    })
    return str(redeemed.json()["id_token"])


@pytest.fixture
def oidc(graph: GraphEmulatorControl) -> EntraSignIn:
    return EntraSignIn(authority=f"{graph.url}/{GRAPH_TENANT}", client_id=CONSOLE_CLIENT_ID,
                       client_secret=CONSOLE_CLIENT_SECRET, redirect_uri=REDIRECT_URI)


def test_a_genuine_id_token_passes(oidc, graph, seeded):
    claims = oidc.validate_id_token(real_id_token(graph.url, seeded["users"][0], "n1"), "n1")
    assert claims["tid"] == GRAPH_TENANT and claims["preferred_username"] == ANN


def test_a_tampered_id_token_is_refused(oidc, graph, seeded):
    header, payload, signature = real_id_token(graph.url, seeded["users"][0], "n1").split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    forged_payload = base64.urlsafe_b64encode(
        json.dumps({**claims, "preferred_username": "admin@contoso.example"}).encode()
    ).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated, match="signature is not the identity provider's"):
        oidc.validate_id_token(f"{header}.{forged_payload}.{signature}", "n1")


def test_an_id_token_signed_by_another_key_under_the_emulators_kid_is_refused(oidc, graph, seeded):
    genuine = real_id_token(graph.url, seeded["users"][0], "n1")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(Unauthenticated, match="signature"):
        oidc.validate_id_token(forged, "n1")


def test_an_id_token_for_another_app_or_tenant_is_refused(oidc, graph, seeded):
    genuine = real_id_token(graph.url, seeded["users"][0], "n1")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    other_app = EntraSignIn(authority=f"{graph.url}/{GRAPH_TENANT}", client_id="another-app",
                            client_secret="x", redirect_uri=REDIRECT_URI)
    with pytest.raises(Unauthenticated, match="another application"):
        other_app.validate_id_token(genuine, "n1")
    other_tenant = EntraSignIn(authority=f"{graph.url}/99999999-0000-0000-0000-000000000000",
                               client_id=CONSOLE_CLIENT_ID, client_secret="x", redirect_uri=REDIRECT_URI)
    with pytest.raises(Unauthenticated, match="another tenant"):
        other_tenant.validate_id_token(genuine, "n1")
    assert claims["aud"] == CONSOLE_CLIENT_ID


# -- the group overage ---------------------------------------------------------------------------------------


def test_a_user_in_more_than_200_groups_signs_in_with_groups_read_from_graph(console, graph):
    groups = [{"displayName": f"Team {i:03}", "members": [ANN]} for i in range(201)]
    seeded = graph.seed(users=[{"userPrincipalName": ANN, "displayName": "Ann Example"}], groups=groups)
    answer = pick(start(console))
    assert callback(console, answer).status_code == 302
    principal = session_of(console)["principal"]
    # Too many for the cookie: they are read from the directory on each request (briefly cached).
    assert principal["groups_from_directory"] is True and principal["token_groups"] == []
    assert console.get("/console/packs").status_code == 200
    paths = [r["path"] for r in graph.requests()]
    assert f"/v1.0/users/{seeded['users'][0]}/transitiveMemberOf/microsoft.graph.group" in paths


def test_only_the_sign_in_page_lets_forms_reach_the_identity_provider(console, graph):
    sign_in_policy = console.get("/console/sign-in").headers["Content-Security-Policy"]
    assert f"form-action 'self' {graph.url};" in sign_in_policy and "unsafe-inline" not in sign_in_policy
    assert "form-action 'self';" in console.get("/workflow/health").headers["Content-Security-Policy"]
