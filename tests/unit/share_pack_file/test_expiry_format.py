"""`expires_on` on a recipient and per grant on a share: read from YAML and Excel alike, written back the same,
and refused with a located error when unreadable, past, or naming a recipient the share does not grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.expiry import expiry_moment
from shared.share_pack_file.write import to_excel, to_yaml
from tests.unit.share_pack_file.conftest import (
    document_sheets,
    messages,
    valid_document,
    workbook_bytes,
    yaml_bytes,
)

FUTURE = (datetime.now(UTC) + timedelta(days=400)).date()


def test_recipient_and_grant_expiries_are_read_in_both_formats(parse_with):
    def change(document):
        document["recipient"][0]["expires_on"] = FUTURE.isoformat()
        document["share"][0]["expires_on"] = {"globex": f"{FUTURE.isoformat()}T18:30:00+02:00"}

    parsed = parse_with(change)

    assert parsed.errors == []
    pack = parsed.spec
    assert pack.recipients[0].expires_on == FUTURE.isoformat()
    assert pack.shares[0].expires_on == {"globex": f"{FUTURE.isoformat()}T16:30:00Z"}
    assert expiry_moment(pack.recipients[0].expires_on) == datetime(FUTURE.year, FUTURE.month, FUTURE.day, tzinfo=UTC)


def test_expiries_round_trip_yaml_and_excel(parse_with):
    def change(document):
        document["recipient"][1]["expires_on"] = f"{FUTURE.isoformat()}T08:00:00Z"
        document["share"][1]["expires_on"] = {"globex": FUTURE.isoformat()}

    pack = parse_with(change).spec
    from_yaml = parse_share_pack(to_yaml(pack).encode(), filename="pack.yaml")
    from_excel = parse_share_pack(to_excel(pack), filename="pack.xlsx")

    assert from_yaml.spec == pack
    assert from_excel.spec == pack


def test_a_past_expiry_is_refused_where_it_is_written(file_format):
    document = valid_document()
    document["recipient"][0]["expires_on"] = "2020-01-31"
    if file_format == "yaml":
        content = yaml_bytes(document)
        parsed = parse_share_pack(content, filename="pack.yaml")
        written_at = content.decode().splitlines().index("  expires_on: '2020-01-31'") + 1
    else:
        parsed = parse_share_pack(workbook_bytes(document_sheets(document)), filename="pack.xlsx")

    assert "in the past" in messages(parsed.errors)["recipient[0].expires_on"]
    issue = next(i for i in parsed.errors if i.path == "recipient[0].expires_on")
    if file_format == "yaml":
        assert issue.location["line"] == written_at
    else:
        assert (issue.location["sheet"], issue.location["row"]) == ("recipient", 2)


@pytest.mark.parametrize("value", ["next tuesday", "2027-13-45", "31/01/2027"])
def test_an_unreadable_expiry_is_refused(parse_with, value):
    parsed = parse_with(lambda document: document["recipient"][0].update(expires_on=value))

    assert "is not a date or an ISO datetime" in messages(parsed.errors)["recipient[0].expires_on"]


def test_a_grant_expiry_must_name_a_recipient_of_that_share(parse_with):
    parsed = parse_with(lambda document: document["share"][1].update(expires_on={"acme": FUTURE.isoformat()}))

    assert "does not list in its recipients" in messages(parsed.errors)["share[1].expires_on.acme"]


def test_a_malformed_excel_grant_cell_is_refused():
    sheets = document_sheets(valid_document())
    sheets["share"][0].append("expires_on")
    sheets["share"][1].append(f"acme {FUTURE.isoformat()}")  # no '='
    parsed = parse_share_pack(workbook_bytes(sheets), filename="pack.xlsx")

    issue = next(i for i in parsed.errors if i.path == "share[0].expires_on")
    assert "recipient=date" in issue.message
    assert issue.location["sheet"] == "share"
