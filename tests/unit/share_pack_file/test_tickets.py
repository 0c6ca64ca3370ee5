"""Ticket references in a pack's metadata: read from YAML and Excel alike, checked, located, written back."""

from __future__ import annotations

import pytest

from shared.share_pack_file import parse_share_pack, to_excel, to_yaml
from tests.unit.share_pack_file.conftest import messages


def with_tickets(parse_with, **tickets):
    return parse_with(lambda document: document["metadata"].update(tickets))


@pytest.mark.parametrize(("service_now", "ado"), [("CHG0012345", "12345"), ("RITM0001234", 7), ("INC1234567890", None)])
def test_tickets_are_read_into_the_metadata(parse_with, service_now, ado):
    result = with_tickets(parse_with, service_now_ticket=service_now, ado_ticket=ado)

    assert result.is_valid, result.errors
    assert result.spec.metadata.service_now_ticket == service_now
    assert result.spec.metadata.ado_ticket == (str(ado) if ado is not None else None)


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("service_now_ticket", "CHG12", "ServiceNow number"),
    ("service_now_ticket", "chg0012345", "ServiceNow number"),
    ("service_now_ticket", "XYZ0012345", "ServiceNow number"),
    ("service_now_ticket", "CHG0012345; DROP", "ServiceNow number"),
    ("ado_ticket", "AB-12", "work item number"),
    ("ado_ticket", "0", "work item number"),
    ("ado_ticket", "12345678901", "work item number"),
])
def test_a_malformed_ticket_is_an_error_at_its_field(parse_with, field, value, fragment):
    result = with_tickets(parse_with, **{field: value})

    assert not result.is_valid
    assert fragment in messages(result.errors)[f"metadata.{field}"]


def test_the_original_systems_names_are_accepted_with_a_warning(parse_with):
    result = parse_with(lambda document: document["metadata"].update(ServiceNowTicket="CHG0012345", AdoTicket=42))

    assert result.is_valid, result.errors
    assert (result.spec.metadata.service_now_ticket, result.spec.metadata.ado_ticket) == ("CHG0012345",
                                                                                                      "42")
    # Excel reads field names in lower case.
    assert {w.path.lower() for w in result.warnings} >= {"metadata.servicenowticket", "metadata.adoticket"}


def test_tickets_survive_writing_the_pack_in_either_format(parse_with):
    pack = with_tickets(parse_with, service_now_ticket="CHG0012345", ado_ticket="12345").spec

    for written, name in ((to_yaml(pack).encode(), "pack.yaml"), (to_excel(pack), "pack.xlsx")):
        again = parse_share_pack(written, filename=name)
        assert again.is_valid, again.errors
        assert again.spec.metadata == pack.metadata
