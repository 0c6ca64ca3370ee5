"""An upload whose `expires_on` has already passed is refused with a 400 naming the line, and nothing is queued;
one in the future is stored, in UTC."""

from __future__ import annotations

import uuid

from shared.models import SharePack
from shared.models.history import History
from tests.integration.api.test_share_pack_routes import rejected_audits, sample, upload

ACME = b"  token_expiry_days: 90\n"  # the last line of the example's D2O recipient


def test_a_past_expiry_is_refused_at_upload_where_it_is_written(client, headers, session_factory, publisher):
    content = sample().replace(ACME, ACME + b"  expires_on: 2021-06-30\n", 1)
    line = content.decode().splitlines().index("  expires_on: 2021-06-30") + 1

    response = upload(client, headers, content, "expired.yaml")

    assert response.status_code == 400, response.json
    assert response.json["ErrorCode"] == "INVALID_SHARE_PACK"
    [error] = response.json["ValidationErrors"]
    assert error["path"] == "recipient[0].expires_on" and "in the past" in error["message"]
    assert error["location"]["line"] == line
    assert len(rejected_audits(session_factory, "expired.yaml")) == 1
    assert publisher.notified == []


def test_a_future_expiry_is_stored_in_utc(client, headers, session_factory):
    content = sample().replace(ACME, ACME + b"  expires_on: 2099-06-30T12:00:00+02:00\n", 1)

    response = upload(client, headers, content)

    assert response.status_code == 202, response.json
    with session_factory() as session:
        config = History(session, SharePack).get_current(uuid.UUID(response.json["SharePackId"])).config
    assert config["recipient"][0]["expires_on"] == "2099-06-30T10:00:00Z"
