"""An upload sent again with its `Idempotency-Key` (a client's network retry) makes no second share pack."""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import func, select, update

from shared.models import SharePack
from shared.models.history import History
from shared.models.runtime import IdempotencyKeyRow
from shared.platform.errors import Conflict
from shared.platform.status import SharePackStatus
from shared.use_cases.idempotency import RETENTION, Answer, Scope, answer_once, fingerprint, prune_expired
from tests.integration.api.test_share_pack_routes import sample


def upload(client, headers, content: bytes, key: str | None, filename: str = "pack.yaml"):
    return client.post(
        "/workflow/sharepack/upload",
        data={"file": (io.BytesIO(content), filename)},
        headers={**headers, **({"Idempotency-Key": key} if key is not None else {})},
        content_type="multipart/form-data",
    )


def packs_named(session_factory, name: str) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count(func.distinct(SharePack.share_pack_id)))
                              .where(SharePack.share_pack_name == name))


def test_a_retried_upload_answers_the_first_answer_and_makes_one_pack(client, headers, session_factory):
    key = str(uuid.uuid4())
    first = upload(client, headers, sample(), key)
    again = upload(client, headers, sample(), key)

    assert first.status_code == 202, first.json
    assert again.status_code == 202, again.json
    assert again.json["SharePackId"] == first.json["SharePackId"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.headers["Location"] == first.headers["Location"] == f"/workflow/sharepack/{first.json['SharePackId']}"
    assert packs_named(session_factory, first.json["SharePackName"]) == 1


def test_the_same_key_with_another_file_is_409_and_makes_nothing(client, headers, session_factory):
    key = str(uuid.uuid4())
    first = upload(client, headers, sample(), key)
    other = upload(client, headers, sample().replace(b"\n", b"\n\n", 1), key)

    assert other.status_code == 409, other.json
    assert "different request" in other.json["Message"]
    assert packs_named(session_factory, first.json["SharePackName"]) == 1


def test_without_a_key_every_upload_is_a_new_pack(client, headers):
    first, second = upload(client, headers, sample(), None), upload(client, headers, sample(), None)

    assert first.status_code == second.status_code == 202
    assert first.json["SharePackId"] != second.json["SharePackId"]


def test_a_refused_upload_keeps_no_key_so_the_fixed_file_may_use_it(client, headers):
    key = str(uuid.uuid4())
    refused = upload(client, headers, b"metadata: [", key)
    fixed = upload(client, headers, sample(), key)

    assert refused.status_code == 400
    assert fixed.status_code == 202, fixed.json and "Idempotent-Replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400(client, headers, key):
    response = upload(client, headers, sample(), key)

    assert response.status_code == 400, response.json
    assert "Idempotency-Key" in response.json["Message"]


def test_a_key_past_its_retention_is_forgotten_and_pruned(client, headers, session_factory):
    key = str(uuid.uuid4())
    first = upload(client, headers, sample(), key)
    with session_factory.begin() as session:  # the key's first use was a day and an hour ago
        session.execute(update(IdempotencyKeyRow).values(created_at=func.now() - RETENTION - RETENTION / 24))

    later = upload(client, headers, sample(), key)
    assert later.status_code == 202 and later.json["SharePackId"] != first.json["SharePackId"]

    with session_factory.begin() as session:
        session.execute(update(IdempotencyKeyRow).values(created_at=func.now() - RETENTION - RETENTION / 24))
    with session_factory.begin() as session:
        assert prune_expired(session) >= 1
        assert session.scalar(select(func.count()).select_from(IdempotencyKeyRow)) == 0


def test_a_key_whose_first_request_is_still_being_answered_is_409(session_factory):
    scope = Scope(caller="tester", workspace_url="http://127.0.0.1:8001", operation="POST /workflow/sharepack/upload")
    fingerprint_of_file = fingerprint(b"the file", "pack.yaml")

    def first_request() -> Answer:  # the client's retry arrives while the first request is still working
        with pytest.raises(Conflict, match="still being answered"):
            answer_once(session_factory, scope, "key-1", fingerprint_of_file, lambda: Answer(202, {"n": 2}))
        return Answer(202, {"n": 1})

    answer, replayed = answer_once(session_factory, scope, "key-1", fingerprint_of_file, first_request)
    assert (answer, replayed) == (Answer(202, {"n": 1}), False)
    assert answer_once(session_factory, scope, "key-1", fingerprint_of_file, lambda: Answer(202, {"n": 3})) == (
        Answer(202, {"n": 1}), True)


def test_a_retried_revision_answers_the_first_answer_and_makes_one_version(client, headers, session_factory):
    share_pack_id = upload(client, headers, sample(), None).json["SharePackId"]
    with session_factory.begin() as session:  # stand in for the worker: the pack's attempt ended
        History(session, SharePack).change(share_pack_id, changed_by="worker", change_reason="provisioning done",
                                           share_pack_status=SharePackStatus.COMPLETED)
    key = str(uuid.uuid4())

    def revise(content: bytes):
        return client.post(f"/workflow/sharepack/{share_pack_id}/upload",
                           data={"file": (io.BytesIO(content), "rev.yaml")},
                           headers={**headers, "Idempotency-Key": key}, content_type="multipart/form-data")

    first, again = revise(sample()), revise(sample())
    other = revise(sample().replace(b"\n", b"\n\n", 1))

    assert first.status_code == again.status_code == 202, (first.json, again.json)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    with session_factory() as session:
        assert History(session, SharePack).get_current(share_pack_id).version == first.json["Version"]
