"""The groups of an Entra user whose token could not carry them all (the "groups overage").

Above 200 groups a JWT has no `groups` claim but `_claim_names: {"groups": "src1"}` and `_claim_sources`
(implicit-flow tokens say `hasgroups: true` instead); the groups must then be read from Microsoft Graph
(https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim).
The endpoint in `_claim_sources` is not called: it may point at the retired Azure AD Graph
(MicrosoftDocs/azure-docs#28514). The app's own Graph credentials read
`GET /users/{oid}/transitiveMemberOf/microsoft.graph.group` instead
(https://learn.microsoft.com/graph/api/user-list-transitivememberof).

Answers are cached briefly per user, so a burst of requests from one user costs one Graph read. When Graph
is not configured or does not answer in time, the user has no token groups (and a warning says why):
memberships recorded in the synced `ad_groups` table still apply.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.graph.client import GraphClient
from shared.graph.errors import GraphError
from shared.platform.logging import get_logger

log = get_logger(__name__)

CACHE_SECONDS = 300.0
CACHE_ENTRIES = 10_000
BUDGET_SECONDS = 2.0


class OverageGroups:
    """Reads a user's group object ids from Graph, with a small time-bounded cache.

    Args:
        graph: the app's Graph client; None when Graph is not configured (every lookup is then empty).
        budget_seconds: the longest one lookup may wait for Graph, retries included.
    """

    def __init__(
        self,
        graph: GraphClient | None,
        *,
        budget_seconds: float = BUDGET_SECONDS,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._graph = graph
        self._budget = budget_seconds
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def groups_of(self, object_id: str) -> frozenset[str]:
        """The user's groups (nested ones included); empty, with a warning, when Graph cannot tell."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(object_id)
            if cached is not None and cached[0] > now:
                return cached[1]
        if self._graph is None:
            log.warning("access.group_overage_unresolved", object_id=object_id, reason="Graph is not configured")
            return frozenset()
        try:
            groups = frozenset(
                str(item["id"])
                for item in self._graph.items(
                    f"users/{object_id}/transitiveMemberOf/microsoft.graph.group",
                    {"$select": "id", "$top": "999"},
                    deadline=now + self._budget,
                )
                if item.get("id")
            )
        except GraphError as exc:
            # Not cached: the next request asks again, and the user gets their groups once Graph answers.
            log.warning("access.group_overage_unresolved", object_id=object_id, reason=exc.message)
            return frozenset()
        with self._lock:
            self._cache[object_id] = (now + self._ttl, groups)
            self._cache.move_to_end(object_id)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return groups
