"""The console behind the production TLS ingress, through the real app: cookie flags, HSTS, the trusted proxy
hop, and sessions that end on the server (sign-out, idle and absolute lifetimes), each tried as an attacker
holding a copy of a victim's cookie would.

Lifetimes are crossed by ageing the session's row in PostgreSQL (the database's clock decides), not by
waiting: the app sees exactly what it would see half an hour later.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.security_headers import STRICT_TRANSPORT_SECURITY
from tests.integration.api.conftest import make_settings
from tests.integration.api.test_console_routes import csrf_of, sign_in

COOKIE = "sharepack_console"
CONSOLE_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def production(app_factory: Callable[..., FlaskClient]) -> Callable[..., FlaskClient]:
    """`build(**settings)`: a client of the app as deployed, whose requests come through the TLS ingress."""

    def build(**overrides: str) -> FlaskClient:
        client = app_factory(make_settings(deployment="production", console_secret_key=CONSOLE_KEY, **overrides))
        client.environ_base.update({"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "198.51.100.20"})
        return client

    return build


def stolen_cookie(victim: FlaskClient) -> str:
    cookie = victim.get_cookie(COOKIE, path="/console")
    assert cookie is not None, "signing in sets the session cookie"
    return cookie.value


def attacker_with(cookie: str, build: Callable[..., FlaskClient]) -> FlaskClient:
    attacker = build()
    attacker.set_cookie(COOKIE, cookie, path="/console")
    return attacker


def age_sessions(sessions: sessionmaker[Session], column: str, by: str) -> None:
    with sessions.begin() as db:
        db.execute(text(f"UPDATE workflow_runtime.console_sessions SET {column} = {column} - CAST(:by AS interval)"),
                    {"by": by})


def set_cookie_of(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    return header


def test_the_session_cookie_is_secure_http_only_and_lax(production) -> None:
    response = sign_in(production())
    assert response.status_code == 302
    header = set_cookie_of(response)
    flags = {part.strip() for part in header.split(";")[1:]}
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/console"} <= flags


def test_the_cookie_is_secure_in_production_even_when_the_proxy_hop_is_not_trusted(production) -> None:
    client = production(proxy_trusted_hops="0")  # the app believes no X-Forwarded-Proto: it sees plain HTTP
    assert "Secure" in set_cookie_of(sign_in(client)).split("; ")


def test_hsts_is_sent_in_production_only(production, client: FlaskClient) -> None:
    deployed = production()
    for path in ("/console/sign-in", "/workflow/health", "/workflow/openapi.json", "/no/such/page"):
        assert deployed.get(path).headers["Strict-Transport-Security"] == STRICT_TRANSPORT_SECURITY, path
    assert STRICT_TRANSPORT_SECURITY == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/workflow/health").headers  # development


def test_a_cookie_replayed_after_sign_out_is_refused(production) -> None:
    victim = production()
    sign_in(victim)
    copy = stolen_cookie(victim)
    assert attacker_with(copy, production).get("/console/packs").status_code == 200  # a live session works

    victim.post("/console/sign-out", data={"csrf_token": csrf_of(victim, "/console/packs")})

    attacker = attacker_with(copy, production)
    response = attacker.get("/console/packs")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/sign-in")
    # Nor can the replayed cookie (with its still-valid CSRF token) act.
    refused = attacker.post("/console/sign-out", data={"csrf_token": "x"})
    assert refused.status_code == 400
    assert victim.get("/console/packs").status_code == 302


def test_a_cookie_idle_past_its_limit_is_refused(production, session_factory) -> None:
    victim = production(console_session_idle_seconds="1800")
    sign_in(victim)
    copy = stolen_cookie(victim)

    age_sessions(session_factory, "last_seen_at", "29 minutes")
    assert attacker_with(copy, production).get("/console/packs").status_code == 200  # and that use counts
    age_sessions(session_factory, "last_seen_at", "29 minutes")
    assert attacker_with(copy, production).get("/console/packs").status_code == 200

    age_sessions(session_factory, "last_seen_at", "31 minutes")
    response = attacker_with(copy, production).get("/console/packs")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/sign-in")
    assert victim.get("/console/packs").status_code == 302  # the session is over for everyone


def test_a_page_polling_by_itself_does_not_keep_an_idle_session_alive(production, session_factory) -> None:
    victim = production()
    sign_in(victim)
    age_sessions(session_factory, "last_seen_at", "20 minutes")
    victim.get("/console/packs/00000000-0000-0000-0000-000000000001/progress")  # polled: not activity
    age_sessions(session_factory, "last_seen_at", "11 minutes")
    assert victim.get("/console/packs").status_code == 302


def test_a_session_older_than_its_lifetime_is_refused_though_in_use(production, session_factory) -> None:
    victim = production(console_session_lifetime_seconds=str(12 * 3600))
    sign_in(victim)
    copy = stolen_cookie(victim)
    age_sessions(session_factory, "created_at", "11 hours 59 minutes")
    assert attacker_with(copy, production).get("/console/packs").status_code == 200
    age_sessions(session_factory, "created_at", "2 minutes")
    assert attacker_with(copy, production).get("/console/packs").status_code == 302


def test_a_cookie_without_a_server_side_session_is_refused(production) -> None:
    """A cookie signed with the right key but minted without a session row (as before sessions were kept)."""
    app = production().application
    with app.test_request_context("/console/packs"):
        from flask import session

        session["principal"] = {"identity": "tester", "key": "tester", "method": "api_key"}
        session["workspace_url"] = "http://127.0.0.1:8001"
        response = app.make_response("")
        app.session_interface.save_session(app, session, response)
    forged = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert attacker_with(forged, production).get("/console/packs").status_code == 302
