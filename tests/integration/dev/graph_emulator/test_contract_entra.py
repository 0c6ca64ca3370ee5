"""Recorded contract of the Entra sign-in rows of dev/graph_emulator/README.md: redirect URIs and client authentication.

Source: https://learn.microsoft.com/entra/identity-platform/reply-url ("AADSTS50011: The redirect URI
specified in the request does not match...", case-sensitive paths, the localhost port exception).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.identity import CONSOLE_CLIENT_ID, redirect_registered, s256
from dev.graph_emulator.server import RunningGraphEmulator, start_graph_emulator
from tests.support.graph_emulator import GRAPH_TENANT

CALLBACK = "/console/sign-in/microsoft/callback"


@pytest.fixture
def ann(graph: GraphEmulatorControl) -> str:
    return graph.seed(users=[{"userPrincipalName": "ann@contoso.example", "displayName": "Ann"}])["users"][0]


def _authorize(url: str, client_id: str, redirect_uri: str, **extra: str) -> requests.Response:
    return requests.get(f"{url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10, params={
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "state": "st",
        "scope": "openid", **extra})


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/console/sign-in/microsoft/callback",  # not registered
    "http://localhost/Console/sign-in/microsoft/callback",  # paths are case-sensitive
    "http://localhost/console/sign-in/microsoft/callback/",  # exact match: no trailing slash
    "https://localhost/console/sign-in/microsoft/callback",  # the port exception is for http loopback only
    "http://localhost.evil.example/console/sign-in/microsoft/callback",
])
def test_an_unregistered_redirect_uri_gets_aadsts50011_and_no_redirect(
    graph: GraphEmulatorControl, ann: str, redirect_uri: str
) -> None:
    page = _authorize(graph.url, CONSOLE_CLIENT_ID, redirect_uri, login_hint="ann@contoso.example")
    assert page.status_code == 400 and "Location" not in page.headers
    assert "AADSTS50011" in page.text


@pytest.mark.parametrize("redirect_uri", [f"http://localhost{CALLBACK}", f"http://localhost:5001{CALLBACK}",
                                          f"http://127.0.0.1:44321{CALLBACK}"])
def test_a_registered_loopback_callback_is_matched_whatever_its_port(
    graph: GraphEmulatorControl, ann: str, redirect_uri: str
) -> None:
    reply = _authorize(graph.url, CONSOLE_CLIENT_ID, redirect_uri, login_hint="ann@contoso.example")
    assert reply.status_code == 302 and reply.headers["Location"].startswith(f"{redirect_uri}?")


def test_redirect_uris_are_registered_per_client() -> None:
    assert redirect_registered("https://console.contoso.example/cb", ["https://console.contoso.example/cb"])
    assert not redirect_registered("https://console.contoso.example:8443/cb", ["https://console.contoso.example/cb"])
    assert not redirect_registered(f"http://127.0.0.1{CALLBACK}", [f"http://localhost{CALLBACK}"])


@pytest.fixture
def deployed() -> Iterator[RunningGraphEmulator]:
    """An emulator with the console registered at a deployed (non-loopback) address only."""
    with start_graph_emulator(clients={"deployed-console": "s3cret"},
                              redirect_uris={"deployed-console": ["https://console.contoso.example/cb"]}) as running:
        GraphEmulatorControl(running.url).seed(users=[{"userPrincipalName": "ann@contoso.example"}])
        yield running


def test_a_client_signs_in_only_through_its_own_registrations_and_redeems_with_basic_auth(
    deployed: RunningGraphEmulator,
) -> None:
    assert _authorize(deployed.url, "deployed-console", f"http://localhost{CALLBACK}",
                      login_hint="ann@contoso.example").status_code == 400  # the console's default is not its own
    verifier = secrets.token_urlsafe(48)
    reply = _authorize(deployed.url, "deployed-console", "https://console.contoso.example/cb",
                       login_hint="ann@contoso.example", code_challenge=s256(verifier), code_challenge_method="S256")
    assert reply.status_code == 302
    code = parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(b"deployed-console:s3cret").decode()
    token = requests.post(f"{deployed.url}/{GRAPH_TENANT}/oauth2/v2.0/token", timeout=10,
                          headers={"Authorization": f"Basic {basic}"},
                          data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                "redirect_uri": "https://console.contoso.example/cb"})
    assert token.status_code == 200 and token.json()["id_token"]


def test_discovery_lists_both_client_authentication_methods(graph: GraphEmulatorControl) -> None:
    config = requests.get(f"{graph.url}/{GRAPH_TENANT}/v2.0/.well-known/openid-configuration", timeout=10).json()
    assert set(config["token_endpoint_auth_methods_supported"]) >= {"client_secret_post", "client_secret_basic"}
