"""The message contract between the API and the worker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.platform.errors import InvalidInput
from shared.queue.messages import ProvisionSharePack, UnreadableMessage

PACK_ID = uuid.UUID("0b7c3c1e-8d51-4c1a-9a53-6f0e2d3b9a10")


def envelope(**overrides: object) -> str:
    data = {"v": 1, "type": "provision_share_pack", "share_pack_id": str(PACK_ID), "request_id": "r-1"}
    data.update(overrides)
    return json.dumps(data)


def test_a_message_round_trips_through_json() -> None:
    message = ProvisionSharePack(share_pack_id=PACK_ID, request_id="r-1")

    assert ProvisionSharePack.from_json(message.to_json()) == message


def test_the_envelope_is_versioned_and_carries_only_ids() -> None:
    message = ProvisionSharePack(share_pack_id=PACK_ID)

    assert json.loads(message.to_json()) == {
        "v": 1,
        "type": "provision_share_pack",
        "share_pack_id": str(PACK_ID),
        "request_id": None,
    }


def test_bytes_are_read_like_text() -> None:
    assert ProvisionSharePack.from_json(envelope().encode()).share_pack_id == PACK_ID


def test_an_envelope_written_with_the_pack_version_still_reads() -> None:
    """Messages queued before the pointer lost its version are still provisioned (the key is ignored)."""
    assert ProvisionSharePack.from_json(envelope(version=3)).request_id == "r-1"


def test_unknown_extra_fields_are_ignored() -> None:
    assert ProvisionSharePack.from_json(envelope(trace="abc")).share_pack_id == PACK_ID


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param("null", id="null"),
        pytest.param(envelope(v=2), id="future-envelope-version"),
        pytest.param(envelope(v="1"), id="envelope-version-as-text"),
        pytest.param(envelope(type="delete_everything"), id="unknown-type"),
        pytest.param(envelope(share_pack_id="not-a-uuid"), id="bad-share-pack-id"),
        pytest.param(envelope(share_pack_id=None), id="null-share-pack-id"),
        pytest.param(envelope(share_pack_id=42), id="numeric-share-pack-id"),
        pytest.param(envelope(request_id=7), id="numeric-request-id"),
    ],
)
def test_anything_but_a_valid_envelope_is_unreadable(raw: str | bytes) -> None:
    with pytest.raises(UnreadableMessage):
        ProvisionSharePack.from_json(raw)


def test_a_missing_field_is_unreadable() -> None:
    data = json.loads(envelope())
    del data["share_pack_id"]

    with pytest.raises(UnreadableMessage, match="share_pack_id"):
        ProvisionSharePack.from_envelope(data)


def test_unreadable_is_a_permanent_input_error() -> None:
    # The worker poisons InvalidInput instead of retrying it.
    assert issubclass(UnreadableMessage, InvalidInput)


def test_the_transient_record_round_trips_and_is_left_out_when_empty() -> None:
    moment = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    message = ProvisionSharePack(PACK_ID, request_id="r-1", transient_attempts=4, first_transient_failure_at=moment)

    assert ProvisionSharePack.from_json(message.to_json()) == message
    assert "transient_attempts" not in json.loads(ProvisionSharePack(PACK_ID).to_json())


def test_a_successor_counts_one_more_failure_and_keeps_the_first_failure_time() -> None:
    first = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    later = first + timedelta(minutes=5)

    once = ProvisionSharePack(PACK_ID).after_transient_failure(first)
    twice = once.after_transient_failure(later)

    assert (once.transient_attempts, once.first_transient_failure_at) == (1, first)
    assert (twice.transient_attempts, twice.first_transient_failure_at) == (2, first)


@pytest.mark.parametrize(
    "overrides",
    [
        {"transient_attempts": -1},
        {"transient_attempts": True},
        {"transient_attempts": "3"},
        {"first_transient_failure_at": "yesterday"},
        {"first_transient_failure_at": "2026-11-30T16:00:00"},  # no offset
        {"first_transient_failure_at": 1700000000},
    ],
)
def test_a_bad_transient_record_is_unreadable(overrides: dict) -> None:
    with pytest.raises(UnreadableMessage):
        ProvisionSharePack.from_json(envelope(**overrides))


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_trace_context_round_trips_and_survives_a_retry() -> None:
    message = ProvisionSharePack(share_pack_id=PACK_ID, traceparent=TRACEPARENT)

    assert json.loads(message.to_json())["traceparent"] == TRACEPARENT
    assert ProvisionSharePack.from_json(message.to_json()) == message
    successor = message.after_transient_failure(datetime(2026, 1, 1, tzinfo=UTC))
    assert ProvisionSharePack.from_json(successor.to_json()).traceparent == TRACEPARENT


def test_a_message_from_before_tracing_still_reads() -> None:
    assert "traceparent" not in json.loads(ProvisionSharePack(share_pack_id=PACK_ID).to_json())
    assert ProvisionSharePack.from_json(envelope()).traceparent is None


def test_a_malformed_trace_context_is_dropped_not_poisoned() -> None:
    assert ProvisionSharePack.from_json(envelope(traceparent=42)).traceparent is None
