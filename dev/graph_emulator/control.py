"""A typed client of the Graph emulator's ``/__graph`` hooks, for tests, benchmarks and the local stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from dev.devserver.control import ControlClient, ControlError


class GraphEmulatorControlError(ControlError):
    """A hook call the emulator refused."""


class GraphEmulatorControl(ControlClient):
    """Drive one Graph emulator: seed, change users and members, inject faults, expire delta links.

    Args:
        url: the emulator's base URL, e.g. ``http://127.0.0.1:8002``.
        timeout: seconds to wait for a hook call (seeding a large directory takes a while).
    """

    hooks = "/__graph"
    error = GraphEmulatorControlError

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        super().__init__(url, timeout=timeout)

    def reset(self) -> None:
        """Empty the directory, faults and request log; delta links issued before become expired."""
        self._call("POST", "reset")

    def seed(self, users: Sequence[Mapping[str, Any]] = (), groups: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Create or update users and groups (members: ids, UPNs or mails); return their ids."""
        return dict(self._call("POST", "seed", {"users": list(users), "groups": list(groups)}))

    def update_user(self, ref: str, **properties: Any) -> dict[str, Any]:
        """Change a user's Graph properties."""
        return dict(self._call("PATCH", f"users/{quote(ref, safe='')}", properties))

    def disable_user(self, ref: str) -> None:
        """Set ``accountEnabled`` to false."""
        self.update_user(ref, accountEnabled=False)

    def delete_user(self, ref: str, *, permanent: bool = False) -> None:
        """Delete a user (soft, reported as ``changed``; or ``permanent``, reported as ``deleted``)."""
        self._call("DELETE", f"users/{quote(ref, safe='')}", {"permanent": permanent})

    def change_members(self, group: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """Add or remove members of a group (by id or display name); return its member ids."""
        return list(self._call("POST", f"groups/{quote(group, safe='')}/members",
                               {"add": list(add), "remove": list(remove)})["members"])

    def inject_fault(self, status: int, *, path_contains: str = "/v1.0/", count: int = 1,
                     retry_after: str | None = None) -> None:
        """Answer the next ``count`` matching Graph calls with ``status`` (429, 503, 504...)."""
        self._call("POST", "faults", {"status": status, "path_contains": path_contains, "count": count,
                                      "retry_after": retry_after})

    def expire_delta_tokens(self, mode: str = "syncStateNotFound") -> None:
        """Expire every delta link issued so far: 400 ``syncStateNotFound`` or 410 ``resyncRequired``."""
        self._call("POST", "expire-delta-tokens", {"mode": mode})

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward."""
        self._call("POST", "advance-clock", {"seconds": seconds})

    def requests(self) -> list[dict[str, Any]]:
        """The Graph calls served so far (method, path, query, consistency_level, status)."""
        return list(self._call("GET", "requests")["requests"])
