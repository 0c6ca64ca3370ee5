"""An API bearer token with the groups overage: the caller's groups come from the Graph emulator over HTTP."""

from __future__ import annotations

import jwt
import pytest
import requests

from api.auth import Authenticator
from api.signing_keys import SigningKeys
from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.identity import CONSOLE_CLIENT_ID, CONSOLE_CLIENT_SECRET
from shared.platform.settings import Settings
from tests.integration.access import test_entra
from tests.integration.access.test_entra import AUDIENCE, TENANT, FakeClock, JwksServer, bearer, token
from tests.support.graph_emulator import GRAPH_TENANT

# The JWKS server and signing key of the access-token tests.
jwks = test_entra.jwks
signing_key = test_entra.signing_key

OVERAGE = {
    "groups": None,
    "_claim_names": {"groups": "src1"},
    "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}},
}


def authenticator(jwks: JwksServer, graph_url: str | None) -> Authenticator:
    graph = {
        "azure_tenant_id": GRAPH_TENANT,
        "graph_client_id": DEFAULT_CLIENT_ID,
        "graph_client_secret": DEFAULT_CLIENT_SECRET,
        "graph_base_url": graph_url,
        "graph_authority_host": graph_url,
        "graph_validation_budget_seconds": "3",
    } if graph_url else {}
    settings = Settings.from_env({
        "auth_mode": "entra", "entra_tenant_id": TENANT, "entra_audience": AUDIENCE, "entra_jwks_url": jwks.url,
        "domain_db_connection_string": "postgresql://unused/unused", **graph,
    }, dotenv_path=None)
    return Authenticator(settings, signing_keys=SigningKeys(url=jwks.url, clock=FakeClock()))


@pytest.fixture
def member_of_250(graph: GraphEmulatorControl) -> tuple[str, list[str]]:
    """A user in 250 groups: 249 directly and one through a nested group."""
    groups = [{"displayName": f"Team {i:03}", "members": ["ann@contoso.example"]} for i in range(249)]
    seeded = graph.seed(users=[{"userPrincipalName": "ann@contoso.example"}], groups=groups)
    outer = graph.seed(groups=[{"displayName": "Division", "members": [seeded["groups"][0]]}])
    return seeded["users"][0], sorted(seeded["groups"] + outer["groups"])


def test_an_overage_token_gets_every_group_from_graph_and_the_next_request_hits_the_cache(
    jwks, signing_key, graph, member_of_250
):
    user_id, groups = member_of_250
    auth = authenticator(jwks, graph.url)
    graph.clear_requests()
    principal = auth.authenticate(bearer(token(signing_key, oid=user_id, **OVERAGE)))
    assert sorted(principal.token_groups) == groups and len(groups) == 250
    reads = [r for r in graph.requests() if "transitiveMemberOf" in r["path"]]
    assert len(reads) == 1 and reads[0]["query"]["$top"] == "999"  # Graph's largest page
    auth.authenticate(bearer(token(signing_key, oid=user_id, **OVERAGE)))
    assert len([r for r in graph.requests() if "transitiveMemberOf" in r["path"]]) == 1


def test_graph_down_means_no_groups_but_the_caller_is_still_authenticated(jwks, signing_key, graph, member_of_250):
    user_id, _ = member_of_250
    graph.inject_fault(503, path_contains="transitiveMemberOf", count=20, retry_after="0")
    principal = authenticator(jwks, graph.url).authenticate(bearer(token(signing_key, oid=user_id, **OVERAGE)))
    assert principal.token_groups == frozenset() and principal.object_id == user_id


def test_without_graph_settings_an_overage_token_has_no_groups(jwks, signing_key):
    principal = authenticator(jwks, None).authenticate(bearer(token(signing_key, **OVERAGE)))
    assert principal.token_groups == frozenset()


def test_the_emulator_issues_the_overage_claim_above_200_groups(graph, member_of_250):
    user_id, _ = member_of_250
    picked = requests.get(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10,
                          params={"client_id": CONSOLE_CLIENT_ID, "response_type": "code", "login_hint": user_id,
                                  "redirect_uri": "http://localhost/console/sign-in/microsoft/callback", "nonce": "n"})
    assert picked.status_code == 302
    code = picked.headers["Location"].split("code=")[1].split("&")[0]
    answer = requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/token", timeout=10, data={
        "client_id": CONSOLE_CLIENT_ID, "client_secret": CONSOLE_CLIENT_SECRET, "grant_type": "authorization_code",
        "code": code, "redirect_uri": "http://localhost/console/sign-in/microsoft/callback",
    }).json()
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert "groups" not in claims and claims["_claim_names"] == {"groups": "src1"}
    assert claims["_claim_sources"]["src1"]["endpoint"].endswith(f"/users/{user_id}/getMemberObjects")
