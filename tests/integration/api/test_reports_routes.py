"""Report routes: each caller sees their tenants' numbers only, bad parameters get a 4xx, exports work.

Finance (alice configures it) and Retail (carol) each have one pack run today; mallory is authenticated and
belongs to nothing. The app runs on the suite's rolled-back session factory, so nothing is committed.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from api import create_app
from api.context import Services
from shared.access.administration import (
    TenantSpec,
    put_local_group,
    put_tenant,
)
from shared.access.policy import Access
from shared.access.principals import Principal
from shared.platform.settings import Settings
from tests.integration.api.conftest import RecordingPublisher
from tests.integration.monitoring.test_views import completed_run, write_history
from tests.support.api_keys import stored_api_keys

WS_A = "https://adb-1000000000000001.1.azuredatabricks.net"
WS_B = "https://adb-2000000000000002.2.azuredatabricks.net"
PEOPLE = ("platform-admin", "alice@example.com", "carol@example.com", "mallory@example.com")


def key(who: str) -> str:
    return f"{who.split('@')[0]}-report-key-0123456789abcdef0123456789"


def headers(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key(who)}"}


@pytest.fixture
def client(session_factory) -> FlaskClient:
    settings = Settings.from_env(
        {
            "api_keys": stored_api_keys(",".join(f"{who}={key(who)}" for who in PEOPLE)),
            "admin_principals": "platform-admin",
            "allowed_workspace_urls": f"{WS_A},{WS_B}",
            "queue_backend": "postgres",
            "domain_db_connection_string": "postgresql://unused/unused",
            "log_format": "json",
        },
        dotenv_path=None,
    )
    admin = Access(Principal.from_api_key("platform-admin", admins=frozenset({"platform-admin"})), frozenset())
    for tenant, workspace, who in (("Finance", WS_A, "alice@example.com"), ("Retail", WS_B, "carol@example.com")):
        put_local_group(session_factory, admin, f"{tenant}-conf", [who])
        put_tenant(
            session_factory,
            admin,
            settings,
            TenantSpec(
                tenant,
                workspaces={"EMEA": workspace},
                configurator_groups=[f"{tenant}-conf"],
                approval_required="never",
            ),
        )
        with session_factory.begin() as session:
            pack = write_history(session, completed_run(), start=datetime.now(UTC) - timedelta(hours=1),
                                 name=f"{tenant}-pack")
            session.execute(text(
                "UPDATE deltashare.share_packs SET tenant_id = (SELECT tenant_id FROM deltashare.tenants"
                " WHERE business_line_name = :t AND is_current) WHERE share_pack_id = :p"), {"t": tenant, "p": pack})
    app = create_app(
        Services(settings, session_factory=session_factory, publisher=RecordingPublisher(), health_check=lambda: None),
    )
    return app.test_client()


def names(answer: dict) -> list[str]:
    return [row["share_pack_name"] for row in answer["Tables"]["runs"]]


def test_each_caller_sees_the_runs_of_their_own_tenants(client: FlaskClient):
    alice = client.get("/workflow/reports/packs?days=2", headers=headers("alice@example.com"))
    carol = client.get("/workflow/reports/packs?days=2", headers=headers("carol@example.com"))
    mallory = client.get("/workflow/reports/packs?days=2", headers=headers("mallory@example.com"))
    admin = client.get("/workflow/reports/packs?days=2", headers=headers("platform-admin"))

    assert alice.status_code == carol.status_code == mallory.status_code == admin.status_code == 200
    assert names(alice.json) == ["Finance-pack"] and names(carol.json) == ["Retail-pack"]
    assert names(mallory.json) == [] and mallory.json["Totals"]["Runs"] == 0
    assert {"Finance-pack", "Retail-pack"} <= set(names(admin.json))


@pytest.mark.parametrize("report", ["packs", "pipeline-runs", "costs"])
def test_every_report_answers_json_csv_and_xlsx(client: FlaskClient, report: str):
    answer = client.get(f"/workflow/reports/{report}?days=7", headers=headers("alice@example.com"))
    assert answer.status_code == 200 and answer.json["Days"] == 7 and len(answer.json["Daily"]["Days"]) == 7

    csv = client.get(f"/workflow/reports/{report}?format=csv", headers=headers("alice@example.com"))
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and csv.data.count(b"\n") >= 1

    xlsx = client.get(f"/workflow/reports/{report}?format=xlsx", headers=headers("alice@example.com"))
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    assert "daily" in pd.read_excel(io.BytesIO(xlsx.data), sheet_name=None, engine="openpyxl")


@pytest.mark.parametrize("query", ["days=0", "days=367", "days=ten", "format=pdf", "days=" + "9" * 5000])
def test_bad_parameters_are_refused_with_a_4xx(client: FlaskClient, query: str):
    answer = client.get(f"/workflow/reports/packs?{query}", headers=headers("alice@example.com"))
    assert 400 <= answer.status_code < 500, answer.data


def test_a_caller_without_credentials_gets_401(client: FlaskClient):
    assert client.get("/workflow/reports/costs").status_code == 401
    forged = {"Authorization": "Bearer not-a-key-of-anyone-0123456789"}
    assert client.get("/workflow/reports/costs", headers=forged).status_code == 401
