"""The Graph client against the Graph emulator over HTTP: paging, $select, throttling, errors, tokens."""

from __future__ import annotations

import time

import pytest

from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.server import start_graph_emulator
from shared.graph.auth import LoopbackTokenProvider, build_token_provider
from shared.graph.client import GraphClient
from shared.graph.errors import (
    GraphAuthenticationFailed,
    GraphDeltaExpired,
    GraphError,
    GraphNotFound,
    GraphUnavailable,
)
from tests.support.graph_emulator import GRAPH_TENANT, make_graph_client


def seed_users(graph: GraphEmulatorControl, count: int) -> list[str]:
    users = [{"userPrincipalName": f"user{i:05d}@example.com", "mail": f"user{i:05d}@example.com",
              "department": "Finance"} for i in range(count)]
    return list(graph.seed(users=users)["users"])


def test_pages_follow_next_links_and_select_only_the_fields_asked(graph, graph_client):
    ids = seed_users(graph, 250)
    pages = list(graph_client.pages("users", {"$select": "id,mail,accountEnabled", "$top": "100"}))
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sorted(u["id"] for p in pages for u in p) == sorted(ids)
    assert set(pages[0][0]) == {"id", "mail", "accountEnabled"}
    # The next links were followed verbatim: each carries the original $select.
    calls = [r for r in graph.requests() if r["path"] == "/v1.0/users"]
    assert len(calls) == 3
    assert all(r["query"].get("$select") == "id,mail,accountEnabled" for r in calls)


def test_delta_round_reports_changes_then_nothing(graph, graph_client):
    seed_users(graph, 120)
    first = graph_client.delta("users", "id,mail,accountEnabled")
    assert sum(len(p) for p in first.pages()) == 120
    graph.disable_user("user00007@example.com")
    graph.delete_user("user00008@example.com")
    second = graph_client.delta("users", "id,mail,accountEnabled", first.delta_link)
    items = [i for p in second.pages() for i in p]
    assert {i.get("mail") for i in items if "@removed" not in i} == {"user00007@example.com"}
    assert [i["@removed"]["reason"] for i in items if "@removed" in i] == ["changed"]
    third = graph_client.delta("users", "id,mail,accountEnabled", second.delta_link)
    assert [i for p in third.pages() for i in p] == []


def test_a_change_to_an_unselected_property_produces_nothing(graph, graph_client):
    seed_users(graph, 3)
    first = graph_client.delta("users", "id,mail")
    list(first.pages())
    graph.update_user("user00001@example.com", department="Legal")
    second = graph_client.delta("users", "id,mail", first.delta_link)
    assert [i for p in second.pages() for i in p] == []


@pytest.mark.parametrize("retry_after", ["0.2", "1", None])
def test_throttling_is_retried_after_retry_after(graph, graph_client, retry_after):
    seed_users(graph, 5)
    graph.inject_fault(429, path_contains="/v1.0/users", count=2, retry_after=retry_after)
    graph_client.tokens.token()
    graph.clear_requests()
    users = list(graph_client.items("users"))
    assert len(users) == 5
    statuses = [r["status"] for r in graph.requests()]
    assert statuses == [429, 429, 200]
    if retry_after is not None:
        times = [r["at"] for r in graph.requests()]
        assert times[1] - times[0] >= float(retry_after)  # waited at least what Graph asked for


def test_503_then_success_is_retried(graph, graph_client):
    seed_users(graph, 1)
    graph.inject_fault(503, count=1, retry_after="0")
    assert len(list(graph_client.items("users"))) == 1


def test_throttling_beyond_the_attempts_is_unavailable_not_a_hang(graph):
    client = make_graph_client(graph.url, max_attempts=3)
    client.tokens.token()
    graph.clear_requests()
    graph.inject_fault(429, count=10, retry_after="0")
    with pytest.raises(GraphUnavailable, match="after 3 attempt"):
        list(client.items("users"))
    assert len(graph.requests()) == 3


def test_a_retry_after_longer_than_the_cap_fails_at_once(graph):
    client = make_graph_client(graph.url, max_wait_seconds=5)
    client.tokens.token()
    graph.clear_requests()
    graph.inject_fault(429, count=1, retry_after="600")
    with pytest.raises(GraphUnavailable):
        list(client.items("users"))
    assert len(graph.requests()) == 1


def test_a_deadline_stops_waiting(graph, graph_client):
    graph_client.tokens.token()
    graph.clear_requests()
    graph.inject_fault(429, count=5, retry_after="3")
    started = time.monotonic()
    with pytest.raises(GraphUnavailable, match="time budget"):
        graph_client.get(graph_client.url("users"), deadline=started + 0.5)
    assert len(graph.requests()) == 1  # it did not sleep 3 s into a 0.5 s budget


def test_unknown_user_is_not_found(graph, graph_client):
    with pytest.raises(GraphNotFound):
        graph_client.get(graph_client.url("users/nobody@example.com"))


def test_a_bad_query_is_a_graph_error_not_retried(graph, graph_client):
    graph_client.tokens.token()
    graph.clear_requests()
    with pytest.raises(GraphError) as caught:
        graph_client.get(graph_client.url("users", {"$filter": "endswith(mail,'.com')"}))
    assert caught.value.code == "Request_UnsupportedQuery"
    assert len(graph.requests()) == 1


def test_advanced_query_needs_consistency_level_and_count(graph, graph_client):
    seed_users(graph, 3)
    url = graph_client.url("users", {"$filter": "endswith(mail,'.com')", "$count": "true"})
    page = graph_client.get(url, headers={"ConsistencyLevel": "eventual"})
    assert page["@odata.count"] == 3


@pytest.mark.parametrize("mode", ["syncStateNotFound", "resyncRequired"])
def test_expired_delta_link_is_classified(graph, graph_client, mode):
    first = graph_client.delta("users", "id,mail")
    list(first.pages())
    graph.expire_delta_tokens(mode)
    with pytest.raises(GraphDeltaExpired):
        list(graph_client.delta("users", "id,mail", first.delta_link).pages())


def test_delta_link_expires_after_seven_days(graph, graph_client):
    first = graph_client.delta("users", "id,mail")
    list(first.pages())
    graph.advance_clock(7 * 24 * 3600 + 1)
    with pytest.raises(GraphDeltaExpired):
        list(graph_client.delta("users", "id,mail", first.delta_link).pages())


def test_wrong_secret_is_an_authentication_failure(graph):
    tokens = LoopbackTokenProvider(graph.url, GRAPH_TENANT, "graph-local-client", "wrong")
    with pytest.raises(GraphAuthenticationFailed, match="AADSTS7000215"):
        GraphClient(graph.url, tokens).get(f"{graph.url}/v1.0/users")


def test_a_rejected_token_is_refreshed_once(graph, graph_client):
    seed_users(graph, 1)
    graph_client.tokens.token()
    graph_client.tokens._token = "forged.token"  # what Graph says of a revoked or expired token
    assert len(list(graph_client.items("users"))) == 1
    assert [r["status"] for r in graph.requests() if r["path"].startswith("/v1.0")] == [401, 200]


def test_unreachable_graph_is_unavailable(graph):
    with start_graph_emulator() as running:
        client = make_graph_client(running.url, max_attempts=2)
        client.tokens.token()
    with pytest.raises(GraphUnavailable):
        client.get(client.url("users"))


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "graph.json"
    running = start_graph_emulator(state_file=state)
    GraphEmulatorControl(running.url).seed(users=[{"userPrincipalName": "kept@example.com"}])
    client = make_graph_client(running.url)
    first = client.delta("users", "id,userPrincipalName")
    list(first.pages())
    running.stop()
    with start_graph_emulator(state_file=state) as restarted:
        client = make_graph_client(restarted.url)
        assert [u["userPrincipalName"] for u in client.items("users")] == ["kept@example.com"]
        # A delta link issued before the restart still works (tokens are signed with the persisted secret).
        link = first.delta_link.replace(running.url, restarted.url)
        assert [i for p in client.delta("users", "id", link).pages() for i in p] == []


def test_https_authority_uses_azure_identity_and_no_secret_a_managed_identity():
    from azure.identity import ClientSecretCredential, ManagedIdentityCredential

    with_secret = build_token_provider(authority_host="https://login.microsoftonline.com", tenant_id=GRAPH_TENANT,
                                       client_id="c", client_secret="s")
    assert isinstance(with_secret.credential, ClientSecretCredential)
    without = build_token_provider(authority_host="https://login.microsoftonline.com", tenant_id=GRAPH_TENANT,
                                   client_id="c", client_secret=None)
    assert isinstance(without.credential, ManagedIdentityCredential)


def test_a_secret_is_never_sent_over_plain_http_off_loopback():
    with pytest.raises(GraphAuthenticationFailed):
        LoopbackTokenProvider("http://graph.example.com", GRAPH_TENANT, "c", "s")


def test_each_call_is_counted_by_endpoint_and_status(graph, graph_client):
    from prometheus_client.registry import REGISTRY

    def count(endpoint: str, result: str) -> float:
        return REGISTRY.get_sample_value("sharepack_graph_calls_total",
                                         {"endpoint": endpoint, "result": result}) or 0.0

    [user_id] = seed_users(graph, 1)
    before = count("users", "200"), count("users/{id}", "200")
    list(graph_client.items("users", {"$select": "id"}))
    graph_client.get(graph_client.url(f"users/{user_id}"))

    assert (count("users", "200") - before[0], count("users/{id}", "200") - before[1]) == (1.0, 1.0)
