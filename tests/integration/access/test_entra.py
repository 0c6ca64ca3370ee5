"""Entra access tokens against a local JWKS HTTP server: tenant, roles, clock skew, key cache and outages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api import create_app
from api.auth import Authenticator
from api.context import Services
from api.signing_keys import REFETCH_COOLDOWN_SECONDS, SigningKeys
from shared.platform.errors import Forbidden, ServiceUnavailable, Unauthenticated
from shared.platform.settings import Settings
from tests.integration.api.conftest import RecordingPublisher

TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://sharepack-workflow"


class JwksServer:
    """Serves one key set over HTTP on loopback and counts the fetches."""

    def __init__(self, key_set: dict) -> None:
        self.key_set = key_set
        self.fetches = 0
        self.available = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if not outer.available:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps(outer.key_set).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/discovery/v2.0/keys"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(signing_key) -> Iterator[JwksServer]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    server = JwksServer({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
    yield server
    server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def authenticator(jwks: JwksServer, clock: FakeClock, **overrides: str) -> Authenticator:
    settings = Settings.from_env(
        {
            "auth_mode": "entra",
            "entra_tenant_id": TENANT,
            "entra_audience": AUDIENCE,
            "entra_jwks_url": jwks.url,
            "domain_db_connection_string": "postgresql://unused/unused",
            **overrides,
        },
        dotenv_path=None,
    )
    return Authenticator(settings, signing_keys=SigningKeys(url=jwks.url, clock=clock))


def token(signing_key, *, kid: str = "k1", version: str = "2.0", **overrides) -> str:
    issuer = (
        f"https://login.microsoftonline.com/{TENANT}/v2.0" if version == "2.0" else f"https://sts.windows.net/{TENANT}/"
    )
    now = int(time.time())
    claims = {
        "iss": issuer, "aud": AUDIENCE, "exp": now + 600, "iat": now, "nbf": now, "tid": TENANT,
        "oid": "0000aaaa-0000-0000-0000-000000000001", "preferred_username": "ann@example.com",
        "roles": ["SharePack.ReadWrite"], "groups": ["g-finance"], "ver": version, **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": kid})


def bearer(value: str) -> str:
    return f"Bearer {value}"


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_v1_and_v2_tokens_identify_the_principal_by_tenant_and_object_id(jwks, clock, signing_key, version):
    principal = authenticator(jwks, clock).authenticate(bearer(token(signing_key, version=version)))
    assert principal.key == f"entra:{TENANT}/0000aaaa-0000-0000-0000-000000000001"
    assert principal.identity == "ann@example.com" and principal.token_groups == {"g-finance"}
    assert not principal.is_admin


def test_share_admin_role_makes_an_administrator(jwks, clock, signing_key):
    principal = authenticator(jwks, clock).authenticate(bearer(token(signing_key, roles=["ShareAdmin"])))
    assert principal.is_admin


def test_token_from_another_tenant_is_401(jwks, clock, signing_key):
    other = "99999999-2222-3333-4444-555555555555"
    forged = token(signing_key, tid=other, iss=f"https://login.microsoftonline.com/{other}/v2.0")
    with pytest.raises(Unauthenticated):
        authenticator(jwks, clock).authenticate(bearer(forged))
    # The issuer names our tenant but `tid` does not: still refused.
    with pytest.raises(Unauthenticated, match="another Entra tenant"):
        authenticator(jwks, clock).authenticate(bearer(token(signing_key, tid=other)))


def test_token_without_roles_or_scopes_is_403(jwks, clock, signing_key):
    with pytest.raises(Forbidden, match="none of the app roles or scopes"):
        authenticator(jwks, clock).authenticate(bearer(token(signing_key, roles=None)))
    strict = authenticator(jwks, clock, entra_required_scopes="SharePack.Upload")
    with pytest.raises(Forbidden, match=r"SharePack\.Upload"):
        strict.authenticate(bearer(token(signing_key)))
    assert strict.authenticate(bearer(token(signing_key, roles=None, scp="openid SharePack.Upload")))


def test_sixty_seconds_of_clock_skew_are_allowed_and_no_more(jwks, clock, signing_key):
    auth = authenticator(jwks, clock)
    assert auth.authenticate(bearer(token(signing_key, exp=int(time.time()) - 30)))
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate(bearer(token(signing_key, exp=int(time.time()) - 120)))


def test_messages_do_not_echo_library_internals(jwks, clock, signing_key):
    with pytest.raises(Unauthenticated) as refused:
        authenticator(jwks, clock).authenticate(bearer(token(signing_key, aud="api://other")))
    assert "aud" not in refused.value.message.split() and "Audience doesn't match" not in refused.value.message


def test_random_kid_storm_fetches_the_key_set_at_most_once_a_minute(jwks, clock, signing_key):
    auth = authenticator(jwks, clock)
    auth.authenticate(bearer(token(signing_key)))
    assert jwks.fetches == 1
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            auth.authenticate(bearer(token(signing_key, kid=uuid.uuid4().hex)))
    assert jwks.fetches == 1  # the first fetch started the cooldown
    clock.now += REFETCH_COOLDOWN_SECONDS
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            auth.authenticate(bearer(token(signing_key, kid=uuid.uuid4().hex)))
    assert jwks.fetches == 2
    assert auth.authenticate(bearer(token(signing_key)))  # the known key still works from the cache


def test_jwks_outage_is_503_and_the_last_good_keys_stay(jwks, clock, signing_key):
    jwks.available = False
    auth = authenticator(jwks, clock)
    with pytest.raises(ServiceUnavailable, match="signing keys cannot be fetched"):
        auth.authenticate(bearer(token(signing_key)))
    jwks.available = True
    clock.now += REFETCH_COOLDOWN_SECONDS
    assert auth.authenticate(bearer(token(signing_key)))
    jwks.available = False
    clock.now += REFETCH_COOLDOWN_SECONDS
    with pytest.raises(Unauthenticated):  # unknown kid during an outage: the cached set still answers for k1
        auth.authenticate(bearer(token(signing_key, kid="rotated")))
    assert auth.authenticate(bearer(token(signing_key)))


def test_over_http_no_roles_is_403_foreign_tenant_401_and_a_jwks_outage_503(jwks, signing_key, session_factory):
    settings = Settings.from_env(
        {
            "auth_mode": "entra", "entra_tenant_id": TENANT, "entra_audience": AUDIENCE, "entra_jwks_url": jwks.url,
            "dev_workspace_urls": "http://127.0.0.1:8001", "domain_db_connection_string": "postgresql://unused/unused",
        },
        dotenv_path=None,
    )
    client = create_app(
        Services(settings, session_factory=session_factory, publisher=RecordingPublisher(), health_check=lambda: None),
    ).test_client()

    def status(credential: str) -> tuple[int, str]:
        response = client.get(
            "/workflow/sharepacks",
            headers={"Authorization": bearer(credential), "X-Workspace-URL": "http://127.0.0.1:8001"},
        )
        return response.status_code, response.json["Message"]

    jwks.available = False
    code, message = status(token(signing_key))
    assert code == 503 and "signing keys cannot be fetched" in message
    jwks.available = True  # a new app: the failed fetch started the first one's cooldown
    client = create_app(
        Services(settings, session_factory=session_factory, publisher=RecordingPublisher(), health_check=lambda: None),
    ).test_client()
    assert status(token(signing_key))[0] == 200
    assert status(token(signing_key, roles=None))[0] == 403
    assert status(token(signing_key, tid="99999999-2222-3333-4444-555555555555"))[0] == 401
