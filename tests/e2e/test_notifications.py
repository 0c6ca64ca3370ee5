"""End to end: an upload leaves exactly the mails it should, and the activation link is stored nowhere.

API (in process), worker and sync service (`python -m worker`, `python -m sync` as child processes), the
workspace emulator and a real aiosmtpd server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from sqlalchemy import Engine, text

from tests.e2e.conftest import ROOT, Stack
from tests.e2e.test_provisioning import pack
from tests.support.smtp import SmtpServer

SCHEMAS = ("deltashare", "workflow_runtime")


@pytest.fixture
def sync_service(stack: Stack, smtp_server: SmtpServer, tmp_path: Path) -> Iterator[Path]:
    log_path = tmp_path / "sync.log"
    env = {
        **stack.worker_env,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "NOTIFICATION_FROM": "sharepack@workflow.example",
        "SYNC_SCHEDULE_NOTIFICATIONS": "1",
        "SYNC_TICK_SECONDS": "0.2",
        "CONSOLE_BASE_URL": "https://sharepack.example.com/",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sync"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        yield log_path
        process.terminate()
        assert process.wait(timeout=30) == 0


def dump_every_table(engine: Engine) -> str:
    """Every row of every table of ours, as text."""
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY(:s)"),
            {"s": list(SCHEMAS)},
        ).all()
        assert len(tables) > 16
        return "\n".join(
            str(row)
            for schema, table in tables
            for row in conn.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))
        )


def test_an_upload_mails_the_activation_link_and_the_result_and_stores_no_link(
    stack: Stack,
    sync_service: Path,
    smtp_server: SmtpServer,
    engine: Engine,
    workspace_client: WorkspaceClient,
    capsys: pytest.CaptureFixture[str],
):
    stack.start_worker()
    share_pack_id = stack.upload(pack())
    assert stack.wait_final(share_pack_id)["Status"] == "COMPLETED"

    messages = smtp_server.mailbox.wait_for(2, timeout=60)
    by_type = {m["X-Notification-Type"]: m for m in messages}
    assert sorted(by_type) == ["PROVISION_SUCCESS", "RECIPIENT_ACTIVATION"] and len(messages) == 2

    # The link the workspace issued, read back over its REST API (it is not downloaded yet, so still shown).
    acme = workspace_client.recipients.get("acme-analytics")
    [url] = {t.activation_url for t in acme.tokens or () if t.activation_url}
    activation = by_type["RECIPIENT_ACTIVATION"]
    assert activation["To"] == "data@acme.example.com"
    assert url in activation.get_body(("plain",)).get_content()
    assert url in activation.get_body(("html",)).get_content()
    outcome = by_type["PROVISION_SUCCESS"]
    assert outcome["To"] == "jane.doe@example.com"
    # Which pack, where, and what changed for whom, in words; the link leads to the pack's console page.
    assert share_pack_id[:8] in outcome["Subject"]
    page = f"https://sharepack.example.com/console/packs/{share_pack_id}"
    text_body, html_body = outcome.get_body(("plain",)).get_content(), outcome.get_body(("html",)).get_content()
    for expected in (f"SharePackId: {share_pack_id}", "Workspace: ", "Result: completed", page,
                     "2 recipients created (acme-analytics (D2O), partner-lakehouse (D2D))",
                     "3 recipients given access"):
        assert expected in text_body, expected
    assert f'href="{page}"' in html_body and share_pack_id in html_body
    assert "recipient_create" not in text_body and "grant_grant" not in text_body

    # Stored nowhere: not in any table (the ciphertext is gone once mailed), not in any log or API response.
    responses = [
        stack.client.get(path, headers=stack.headers).get_data(as_text=True)
        for path in (
            f"/workflow/sharepack/{share_pack_id}",
            f"/workflow/sharepack/{share_pack_id}/history",
            f"/workflow/sharepack/{share_pack_id}/plan",
            "/workflow/sharepacks",
            "/workflow/sync/jobs",
        )
    ]
    logs = stack.worker_logs() + sync_service.read_text(errors="replace") + capsys.readouterr().out
    for where, content in {"tables": dump_every_table(engine), "logs": logs, "responses": "".join(responses)}.items():
        assert url not in content, where
        assert "retrieve_config.html?" not in content, where
    assert "NOTIFICATIONS" in responses[-1]  # the runs that sent them are listed
