"""A pack's ticket references travel from its metadata to the `requests` row, the API's answer and the console."""

from __future__ import annotations

from sqlalchemy import select

from shared.models import Request
from tests.integration.api.test_console_routes import sign_in
from tests.integration.api.test_share_pack_routes import sample, upload

TICKETS = b"  service_now_ticket: CHG0012345\n  ado_ticket: 98765\n"


def with_tickets(pack: bytes) -> bytes:
    return pack.replace(b"  strategy: NEW\n", b"  strategy: NEW\n" + TICKETS, 1)


def test_tickets_are_stored_in_the_request_and_shown_by_the_api(client, headers, session_factory):
    uploaded = upload(client, headers, with_tickets(sample()))
    assert uploaded.status_code == 202, uploaded.json
    share_pack_id = uploaded.json["SharePackId"]

    with session_factory() as session:
        request = session.scalars(select(Request).where(Request.share_pack_id == share_pack_id)).one()
    assert (request.service_now_ticket, request.ado_ticket) == ("CHG0012345", "98765")

    answer = client.get(f"/workflow/sharepack/{share_pack_id}", headers=headers).json
    assert (answer["ServiceNowTicket"], answer["AdoTicket"]) == ("CHG0012345", "98765")


def test_a_pack_without_tickets_answers_null_for_them(client, headers):
    share_pack_id = upload(client, headers, sample()).json["SharePackId"]

    answer = client.get(f"/workflow/sharepack/{share_pack_id}", headers=headers).json
    assert answer["ServiceNowTicket"] is None and answer["AdoTicket"] is None


def test_a_malformed_ticket_is_refused_at_its_line(client, headers):
    pack = with_tickets(sample()).replace(b"CHG0012345", b"CHANGE-12")
    response = upload(client, headers, pack)

    assert response.status_code == 400
    [error] = response.json["ValidationErrors"]
    assert error["path"] == "metadata.service_now_ticket" and "ServiceNow number" in error["message"]
    assert error["location"]["line"] == pack.splitlines().index(b"  service_now_ticket: CHANGE-12") + 1


def test_the_console_page_of_the_pack_shows_its_tickets(client, headers):
    share_pack_id = upload(client, headers, with_tickets(sample())).json["SharePackId"]
    sign_in(client)

    page = client.get(f"/console/packs/{share_pack_id}").get_data(as_text=True)
    assert "<dt>ServiceNow ticket</dt><dd>CHG0012345</dd>" in page
    assert "<dt>Azure DevOps work item</dt><dd>98765</dd>" in page
