"""The Entra groups overage: recognising it in claims, and reading the groups once per user for a while."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from shared.access.overage import CACHE_SECONDS, OverageGroups
from shared.access.principals import has_group_overage, principal_from_entra_claims
from shared.graph.errors import GraphUnavailable

OVERAGE = {
    "_claim_names": {"groups": "src1"},
    "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}},
}
CLAIMS = {"tid": "t1", "oid": "u1", "preferred_username": "ann@example.com"}


class FakeGraph:
    """Answers `items` for a user's transitive groups from a dict, or fails when told to."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.calls: list[str] = []
        self.failing = False

    def items(self, path: str, params: dict[str, str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(path)
        if self.failing:
            raise GraphUnavailable("Graph unavailable after 4 attempt(s) (503)")
        user = path.split("/")[1]
        yield from ({"@odata.type": "#microsoft.graph.group", "id": g} for g in self.groups.get(user, []))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("claims", "expected"), [
    (OVERAGE, True),
    ({"hasgroups": True}, True),
    ({"groups": ["g1"]}, False),
    ({}, False),
    ({"_claim_names": {"roles": "src1"}}, False),
    ({"hasgroups": "true"}, False),  # only the boolean Entra sends
])
def test_overage_is_recognised_by_claim_names_or_hasgroups(claims: dict, expected: bool) -> None:
    assert has_group_overage(claims) is expected


def test_a_token_with_groups_is_not_looked_up() -> None:
    def lookup(oid: str) -> frozenset[str]:
        raise AssertionError("no lookup when the token carries its groups")

    principal = principal_from_entra_claims({**CLAIMS, "groups": ["g1", 7]}, admins=frozenset(),
                                            overage_groups=lookup)
    assert principal.token_groups == {"g1"} and principal.key == "entra:t1/u1"


def test_an_overage_token_gets_its_groups_from_the_lookup() -> None:
    principal = principal_from_entra_claims({**CLAIMS, **OVERAGE}, admins=frozenset(),
                                            overage_groups=lambda oid: frozenset({f"{oid}-g"}))
    assert principal.token_groups == {"u1-g"} and principal.identity == "ann@example.com"


def test_groups_are_read_once_per_user_until_the_cache_expires() -> None:
    graph, clock = FakeGraph({"u1": ["g1", "g2"], "u2": ["g3"]}), Clock()
    groups = OverageGroups(graph, clock=clock)  # type: ignore[arg-type]
    assert groups.groups_of("u1") == {"g1", "g2"}
    assert groups.groups_of("u1") == {"g1", "g2"}
    assert groups.groups_of("u2") == {"g3"}
    assert graph.calls == ["users/u1/transitiveMemberOf/microsoft.graph.group",
                           "users/u2/transitiveMemberOf/microsoft.graph.group"]
    graph.groups["u1"] = ["g1"]
    clock.now += CACHE_SECONDS
    assert groups.groups_of("u1") == {"g1"}
    assert len(graph.calls) == 3


def test_graph_failing_means_no_groups_a_warning_and_a_new_try_next_time() -> None:
    graph = FakeGraph({"u1": ["g1"]})
    graph.failing = True
    groups = OverageGroups(graph, clock=Clock())  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert groups.groups_of("u1") == frozenset()
    assert [(e["event"], e["log_level"], e["object_id"]) for e in logs] == [
        ("access.group_overage_unresolved", "warning", "u1")]
    graph.failing = False
    assert groups.groups_of("u1") == {"g1"}  # a failure is not cached


def test_without_graph_there_are_no_groups_and_a_warning() -> None:
    with capture_logs() as logs:
        assert OverageGroups(None).groups_of("u1") == frozenset()
    assert [e["reason"] for e in logs] == ["Graph is not configured"]
