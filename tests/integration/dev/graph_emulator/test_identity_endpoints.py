"""The Graph emulator's Entra sign-in endpoints and a user's transitive groups, over real HTTP."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.identity import CONSOLE_CLIENT_ID, CONSOLE_CLIENT_SECRET, s256
from shared.graph.client import GraphClient
from tests.support.graph_emulator import GRAPH_TENANT

REDIRECT = "http://localhost/console/sign-in/microsoft/callback"  # registered for the console client


def authorize(graph: GraphEmulatorControl, user: str, verifier: str, **extra: str) -> requests.Response:
    return requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10,
                         data={"client_id": CONSOLE_CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT,
                               "state": "st", "nonce": "nn", "code_challenge": s256(verifier),
                               "code_challenge_method": "S256", "user": user, **extra})


def redeem(graph: GraphEmulatorControl, code: str, verifier: str, **extra: str) -> requests.Response:
    return requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/token", timeout=10, data={
        "client_id": CONSOLE_CLIENT_ID, "client_secret": CONSOLE_CLIENT_SECRET, "grant_type": "authorization_code",
        "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier, **extra})


def code_of(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


@pytest.fixture
def ann(graph: GraphEmulatorControl) -> str:
    return graph.seed(users=[{"userPrincipalName": "ann@contoso.example", "displayName": "Ann"}])["users"][0]


def test_discovery_names_the_endpoints_and_the_keys_verify_the_id_token(graph, ann):
    config = requests.get(f"{graph.url}/{GRAPH_TENANT}/v2.0/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == f"{graph.url}/{GRAPH_TENANT}/v2.0"
    verifier = secrets.token_urlsafe(48)
    answer = redeem(graph, code_of(authorize(graph, ann, verifier)), verifier).json()
    keys = jwt.PyJWKSet.from_dict(requests.get(config["jwks_uri"], timeout=10).json())
    kid = jwt.get_unverified_header(answer["id_token"])["kid"]
    claims = jwt.decode(answer["id_token"], key=keys[kid].key, algorithms=["RS256"], audience=CONSOLE_CLIENT_ID,
                        issuer=config["issuer"])
    assert claims["oid"] == ann and claims["nonce"] == "nn" and claims["tid"] == GRAPH_TENANT


def test_a_verifier_that_does_not_match_the_challenge_is_invalid_grant(graph, ann):
    verifier = secrets.token_urlsafe(48)
    refused = redeem(graph, code_of(authorize(graph, ann, verifier)), secrets.token_urlsafe(48))
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [501481]
    assert body["error_description"].startswith("AADSTS501481: The Code_Verifier does not match")


def test_a_code_is_single_use_bound_to_its_redirect_uri_and_client_secret(graph, ann):
    verifier = secrets.token_urlsafe(48)
    code = code_of(authorize(graph, ann, verifier))
    wrong_secret = redeem(graph, code, verifier, client_secret="not-it")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error_codes"] == [7000215]
    other_redirect = redeem(graph, code, verifier, redirect_uri="http://localhost/elsewhere")
    assert other_redirect.json()["error_codes"] == [70000]
    assert redeem(graph, code, verifier).json()["error_codes"] == [54005]
    assert redeem(graph, "never-issued", verifier).json()["error_codes"] == [70000]


def test_the_pick_page_lists_enabled_users_and_login_hint_picks_at_once(graph, ann):
    graph.seed(users=[{"userPrincipalName": "gone@contoso.example", "displayName": "Gone", "accountEnabled": False}])
    params = {"client_id": CONSOLE_CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT, "state": "s"}
    page = requests.get(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", params=params, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "ann@contoso.example" in page.text and "gone@contoso.example" not in page.text
    hinted = requests.get(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10,
                          params={**params, "login_hint": "ann@contoso.example"})
    assert hinted.status_code == 302 and "code=" in hinted.headers["Location"]


def test_an_unknown_client_gets_an_error_page_not_a_redirect(graph):
    page = requests.get(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10,
                        params={"client_id": "nobody", "response_type": "code", "redirect_uri": REDIRECT})
    assert page.status_code == 400 and "AADSTS700016" in page.text


def test_transitive_member_of_pages_through_nested_groups(graph, graph_client: GraphClient, ann):
    direct = graph.seed(groups=[{"displayName": f"T{i:03}", "members": [ann]} for i in range(150)])["groups"]
    outer = graph.seed(groups=[{"displayName": "Division", "members": [direct[0]]}])["groups"]
    pages = list(graph_client.pages(f"users/{ann}/transitiveMemberOf/microsoft.graph.group", {"$top": "100"}))
    assert [len(p) for p in pages] == [100, 51]
    assert sorted(g["id"] for p in pages for g in p) == sorted(direct + outer)
