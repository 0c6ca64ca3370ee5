"""What the bounds of the third hostile round still let through: the values a real pack writes."""

from __future__ import annotations

import pytest

from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.cron import CronError, check_time_zone, to_quartz
from tests.unit.share_pack_file.conftest import messages, valid_document, yaml_bytes
from tests.unit.share_pack_file.hostile import yaml_hex_number_as_name


def parse_text(text: str):
    return parse_share_pack(text.encode(), filename="pack.yaml")


def test_an_unquoted_hexadecimal_name_keeps_the_text_written():
    filename, content = yaml_hex_number_as_name()

    result = parse_share_pack(content, filename=filename)

    assert result.is_valid, result.errors
    assert result.spec.shares[0].name == "0x7a69"


def test_numbers_still_read_as_numbers_and_numeric_names_as_written():
    text = yaml_bytes(valid_document()).decode()
    text = text.replace("  type: D2O\n", "  type: D2O\n  token_expiry_days: 30\n", 1)
    text = text.replace("project_name: Partner analytics", "project_name: 2024", 1)
    text = text.replace("- name: Sales\n", "- name: 1e3\n", 1)

    result = parse_text(text)

    assert result.is_valid, result.errors
    assert result.spec.recipients[0].token_expiry_days == 30
    assert result.spec.metadata.project_name == "2024"
    assert result.spec.shares[0].name == "1e3"


def test_shallow_merge_keys_still_merge():
    result = parse_text("""\
metadata: {requestor: jane.doe@example.com, project_name: P, business_line: Finance, strategy: NEW}
recipient:
- &base {name: acme, type: D2O, email: ops@acme.example.com}
- <<: *base
  name: other
share:
- {name: s, recipients: [acme, other], data_objects: [sales.reporting.orders]}
""")

    assert result.is_valid, result.errors
    assert [(r.name, r.email) for r in result.spec.recipients] == [
        ("acme", "ops@acme.example.com"), ("other", "ops@acme.example.com")]


def test_a_flow_style_pack_with_many_brackets_is_read():
    document = valid_document()
    document["recipient"] = [{"name": f"r{i}", "type": "D2O", "email": f"r{i}@example.com"} for i in range(600)]
    document["share"][0]["recipients"] = [f"r{i}" for i in range(600)]
    text = "metadata: {requestor: jane.doe@example.com, project_name: P, business_line: Finance, strategy: NEW}\n"
    text += "recipient: [" + ", ".join(f"{{name: r{i}, type: D2O, email: r{i}@example.com}}" for i in range(600))
    text += "]\nshare: [{name: s, recipients: [" + ", ".join(f"r{i}" for i in range(600)) + "], "
    text += "data_objects: [sales.reporting.orders]}]\n"

    result = parse_text(text)

    assert result.is_valid, result.errors[:3]
    assert len(result.spec.recipients) == 600


@pytest.mark.parametrize("expression", ["0 0/59 * * * ?", "0 0 0/23 * * ?", "0 0 0 1/31 * ?", "0 0 0 ? 1/12 2/7",
                                        "*/15 * * * *", "0 0 12 ? JAN-DEC MON-FRI"])
def test_increments_within_their_field_are_accepted(expression):
    assert to_quartz(expression)


@pytest.mark.parametrize("expression", ["0 0/60 * * * ?", "0 0/90 * * * ?", "0 0 0/24 * * ?", "0 0 0 ? * 1/8",
                                        "0 0/0 * * * ?", "0 " + "1" * 5000 + " * * * ?",
                                        "0 1-" + "9" * 10 + " * * * ?"])
def test_increments_beyond_their_field_and_long_numbers_are_refused(expression):
    with pytest.raises(CronError):
        to_quartz(expression)


@pytest.mark.parametrize("zone", ["America", "Europe", "../../etc/passwd", "/usr/share/zoneinfo/UTC", "posixrules",
                                  "UTC\x00", "Europe/" + "x" * 5000, ""])
def test_only_time_zone_ids_are_time_zones(zone):
    with pytest.raises(CronError):
        check_time_zone(zone)


def test_a_name_is_measured_after_lower_casing_and_may_not_hide_characters():
    def with_name(name: str):
        document = valid_document()
        document["share"][0]["name"] = name
        return messages(parse_share_pack(yaml_bytes(document), filename="pack.yaml").errors)

    assert "once lower-cased" in with_name("İ" * 200)["share[0].name"]
    assert "U+2066" in with_name("a\u2066b")["share[0].name"]
    assert "U+FEFF" in with_name("a\ufeffb")["share[0].name"]
    assert "share[0].name" not in with_name("Ünïcödé")


def test_project_and_business_line_names_may_not_hide_characters_either():
    document = valid_document()
    document["metadata"]["project_name"] = "Partner\u202eanalytics"
    document["metadata"]["business_line"] = "Fin\u200bance"

    found = messages(parse_share_pack(yaml_bytes(document), filename="pack.yaml").errors)

    assert "U+202E" in found["metadata.project_name"]
    assert "U+200B" in found["metadata.business_line"]
