"""Recorded contract of the Graph rows of dev/graph_emulator/README.md, driven through the product's Graph client.

Sources: https://learn.microsoft.com/graph/api/user-get ("GET /users/{id | userPrincipalName}"),
https://learn.microsoft.com/graph/api/group-get, https://learn.microsoft.com/graph/api/user-list ($top 1-999),
and the recorded "Invalid object identifier" reply (microsoftgraph/microsoft-graph-docs#11724).
"""

from __future__ import annotations

import base64
import time

import pytest
import requests

from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GRAPH_SCOPE
from dev.graph_emulator.control import GraphEmulatorControl
from shared.graph.client import GraphClient
from shared.graph.errors import GraphError, GraphNotFound
from shared.graph.validator import _Known, _Run
from tests.support.graph_emulator import GRAPH_TENANT

#: microsoftgraph/microsoft-graph-docs#11724 (Graph Explorer, 2021): the body of a malformed object id.
RECORDED_MALFORMED_ID = (400, "Request_BadRequest", "Invalid object identifier '{id}'.")


@pytest.fixture
def bea(graph: GraphEmulatorControl) -> str:
    """A user whose mail is not her UPN (a guest, or a renamed mailbox)."""
    return graph.seed(users=[{"userPrincipalName": "bea.upn@contoso.example", "mail": "bea@mail.example",
                              "displayName": "Bea"}])["users"][0]


def test_a_user_is_found_by_object_id_or_upn_but_not_by_mail(graph_client: GraphClient, bea: str) -> None:
    assert graph_client.get(graph_client.url(f"users/{bea}"))["id"] == bea
    assert graph_client.get(graph_client.url("users/BEA.UPN@contoso.example"))["id"] == bea
    with pytest.raises(GraphNotFound):
        graph_client.get(graph_client.url("users/bea@mail.example"))


@pytest.mark.parametrize("path", ["users/not-an-id", "groups/Finance", "groups/Finance/members",
                                  "users/not-an-id/transitiveMemberOf/microsoft.graph.group"])
def test_a_malformed_object_id_is_answered_as_recorded(graph_client: GraphClient, path: str) -> None:
    with pytest.raises(GraphError) as refused:
        graph_client.get(graph_client.url(path))
    status, code, message = RECORDED_MALFORMED_ID
    key = path.split("/")[1]
    assert (refused.value.status, refused.value.code) == (status, code)
    assert message.format(id=key) in str(refused.value)


def test_the_product_finds_a_requestor_by_mail_through_a_filter(graph_client: GraphClient, bea: str) -> None:
    run = _Run(graph_client, time.monotonic() + 5)
    assert run.user("bea@mail.example") == _Known(exists=True, active=True)
    assert run.user("bea.upn@contoso.example") == _Known(exists=True, active=True)
    assert run.user("nobody@contoso.example") == _Known(exists=False)


def test_top_999_is_one_page(graph_client: GraphClient, bea: str) -> None:
    assert [u["id"] for u in graph_client.get(graph_client.url("users", {"$top": "999"}))["value"]] == [bea]


@pytest.mark.parametrize("top", ["1000", "0"])
def test_top_outside_1_through_999_is_refused(graph_client: GraphClient, top: str) -> None:
    with pytest.raises(GraphError) as refused:
        graph_client.get(graph_client.url("users", {"$top": top}))
    assert refused.value.status == 400


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_the_token_endpoint_accepts_either_client_authentication(graph: GraphEmulatorControl, method: str) -> None:
    form = {"grant_type": "client_credentials", "scope": GRAPH_SCOPE}
    headers = {}
    if method == "client_secret_post":
        form.update(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
    else:
        pair = f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    reply = requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/token", data=form, headers=headers, timeout=10)
    assert reply.status_code == 200 and reply.json()["token_type"] == "Bearer"


def test_a_wrong_secret_is_401_invalid_client_either_way(graph: GraphEmulatorControl) -> None:
    pair = base64.b64encode(f"{DEFAULT_CLIENT_ID}:wrong".encode()).decode()
    reply = requests.post(f"{graph.url}/{GRAPH_TENANT}/oauth2/v2.0/token", headers={"Authorization": f"Basic {pair}"},
                          data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE}, timeout=10)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"
    assert reply.json()["error_codes"] == [7000215]
