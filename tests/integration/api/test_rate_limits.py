"""Guessing keys and flooding with one key, as an attacker would: each is stopped with 429 and Retry-After."""

from __future__ import annotations

import io
import re
import secrets

from tests.integration.api.conftest import API_KEY, LOCAL_WORKSPACE, make_settings

GUESSER = {"REMOTE_ADDR": "203.0.113.9"}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.7"}


def guess(client, attempt: int, environ=GUESSER):
    return client.get("/workflow/sharepacks", headers={"Authorization": f"Bearer guess-{attempt:028d}-key",
                                                       "X-Workspace-URL": LOCAL_WORKSPACE}, environ_base=environ)


def new_key() -> str:
    """A key no app of this process has verified yet (a verified key is remembered by the process)."""
    return f"new-key-{secrets.token_hex(16)}"


def test_a_caller_guessing_api_keys_is_locked_out(app_factory):
    key = new_key()
    client = app_factory(make_settings(api_keys=f"tester={key}", failed_sign_ins_allowed="3",
                                       sign_in_lockout_seconds="120"))

    answers = [guess(client, attempt) for attempt in range(5)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert answers[3].json["ErrorCode"] == "TOO_MANY_REQUESTS"
    assert 0 < int(answers[3].headers["Retry-After"]) <= 120
    # Locked out: even the right key, new to this process, is not tried from that address...
    right = client.get("/workflow/sharepacks", headers={"Authorization": f"Bearer {key}",
                                                         "X-Workspace-URL": LOCAL_WORKSPACE}, environ_base=GUESSER)
    assert right.status_code == 429
    # ...while another address is not affected.
    assert guess(client, 99, environ=NEIGHBOUR).status_code == 401
    right = client.get("/workflow/sharepacks", headers={"Authorization": f"Bearer {key}",
                                                         "X-Workspace-URL": LOCAL_WORKSPACE}, environ_base=NEIGHBOUR)
    assert right.status_code == 200
    # Once verified, the key is known without a derivation, and so even from the locked-out address.
    again = client.get("/workflow/sharepacks", headers={"Authorization": f"Bearer {key}",
                                                         "X-Workspace-URL": LOCAL_WORKSPACE}, environ_base=GUESSER)
    assert again.status_code == 200


def test_one_api_key_past_its_rate_is_answered_429(app_factory):
    client = app_factory(make_settings(api_key_requests_per_minute="3"))
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": LOCAL_WORKSPACE}

    statuses = [client.get("/workflow/sharepacks", headers=headers).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_console_sign_in_is_locked_out_after_failures(app_factory):
    key = new_key()
    client = app_factory(make_settings(api_keys=f"tester={key}", failed_sign_ins_allowed="2",
                                       sign_in_lockout_seconds="60"))
    page = client.get("/console/sign-in", environ_base=GUESSER).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def sign_in(key: str):
        return client.post("/console/sign-in", data={"csrf_token": token, "api_key": key,
                                                     "workspace_url": LOCAL_WORKSPACE}, environ_base=GUESSER)

    statuses = [sign_in(f"wrong-{attempt:030d}").status_code for attempt in range(3)]
    locked = sign_in(key)

    assert statuses == [401, 401, 429]
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)


def test_metrics_need_credentials(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_a_made_up_method_or_uploaded_key_makes_no_new_metric_series(client):
    client.open("/workflow/health/live", method="BREWCOFFEE")
    upload = client.post("/workflow/sharepack/upload", headers={"Authorization": f"Bearer {API_KEY}",
                                                                "X-Workspace-URL": LOCAL_WORKSPACE},
                         data={"file": (io.BytesIO(b"metadata: {zz_attacker_series_1: 1}\n"), "p.yaml")})
    assert upload.status_code == 400

    exposed = client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"}).get_data(as_text=True)

    assert 'method="OTHER"' in exposed
    assert "BREWCOFFEE" not in exposed and "zz_attacker_series" not in exposed
    assert 'rule="metadata.OTHER"' in exposed


def test_administrators_set_the_allowed_e_mail_domains_and_no_one_else_does(app_factory):
    keys = f"tester={API_KEY},mallory=mallory-key-0123456789abcdef01234"
    client = app_factory(make_settings(api_keys=keys))
    admin = {"Authorization": f"Bearer {API_KEY}"}
    body = {"Workspaces": {"EMEA": LOCAL_WORKSPACE}, "ApprovalRequired": "never"}

    changed = client.put("/workflow/tenants/Domains", headers=admin,
                         json={**body, "AllowedEmailDomains": ["Example.com", "@partner.example.org"]})
    mallory = {"Authorization": "Bearer mallory-key-0123456789abcdef01234"}
    refused = client.put("/workflow/tenants/Domains", headers=mallory, json={**body, "AllowedEmailDomains": []})
    malformed = client.put("/workflow/tenants/Domains", headers=admin,
                           json={**body, "AllowedEmailDomains": ["not a domain"]})
    unchanged = client.put("/workflow/tenants/Domains", headers=admin, json=body)

    assert changed.status_code == 200, changed.json
    assert changed.json["AllowedEmailDomains"] == ["example.com", "partner.example.org"]
    assert refused.status_code == 403
    assert malformed.status_code == 400 and "AllowedEmailDomains" in str(malformed.json["Details"])
    assert unchanged.json["AllowedEmailDomains"] == ["example.com", "partner.example.org"]
