"""Migration 0004 removes the activation links earlier versions stored in plain text."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from alembic import command
from tests.support.postgres import alembic_config, fresh_database_url

LINK = "http://127.0.0.1:8001/delta_sharing/retrieve_config.html?abc123"


def test_plaintext_links_are_removed_and_unsent_ones_failed(postgres_server_url):
    url = fresh_database_url(postgres_server_url, prefix="mig")
    config = alembic_config(url)
    engine = create_engine(url)
    try:
        command.upgrade(config, "0001")
        with engine.begin() as conn:
            for status in ("PENDING", "SENT"):
                conn.execute(
                    text(
                        "INSERT INTO deltashare.notifications"
                        " (notification_type, recipient_email, subject, body, status)"
                        " VALUES ('RECIPIENT_ACTIVATION', 'a@example.com', 's', :body, :status)"
                    ),
                    {"body": f"Recipient acme: download your credential once, from {LINK}", "status": status},
                )
            conn.execute(
                text(
                    "INSERT INTO deltashare.notifications (notification_type, subject, body)"
                    " VALUES ('PROVISION_SUCCESS', 'done', 'kept as it was')"
                )
            )

        command.upgrade(config, "head")

        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT notification_type, status, body, error_message FROM deltashare.notifications")
            ).all()
        assert all(LINK not in row.body for row in rows)
        by_status = {(r.notification_type, r.status): r for r in rows}
        assert set(by_status) == {
            ("RECIPIENT_ACTIVATION", "FAILED"),
            ("RECIPIENT_ACTIVATION", "SENT"),
            ("PROVISION_SUCCESS", "PENDING"),
        }
        assert "removed" in by_status[("RECIPIENT_ACTIVATION", "FAILED")].error_message
        assert by_status[("PROVISION_SUCCESS", "PENDING")].body == "kept as it was"
        # The table is append-only again after the scrub.
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE deltashare.notifications SET body = 'x'"))

        command.downgrade(config, "0001")
        command.upgrade(config, "head")
    finally:
        engine.dispose()
