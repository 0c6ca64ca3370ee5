"""Share grants: which recipients may read which shares (``SELECT`` is the only privilege on a share).

Principals are recipient names, so a grant needs the recipient and the share to exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from dev.emulator.errors import invalid_parameter
from dev.emulator.federation import FederationPoliciesMixin
from dev.emulator.shares import SharesMixin
from dev.emulator.workspace_base import drop_none, paginate

SHARE_PRIVILEGES = frozenset({"SELECT"})


class PermissionsMixin(FederationPoliciesMixin, SharesMixin):
    """The grant operations of the workspace."""

    def _assignments(self, share_name: str) -> list[dict[str, Any]]:
        grants = self.grants.get(share_name, {})
        return [
            {"principal": principal, "privileges": sorted(privileges)}
            for principal, privileges in sorted(grants.items())
            if privileges
        ]

    def share_permissions(self, name: str, *, max_results: int | None, page_token: str | None) -> dict[str, Any]:
        """Return ``GET shares/{name}/permissions``."""
        with self._lock:
            share = self._share(name)
            page, token = paginate(
                self._assignments(share.name),
                key=lambda item: item["principal"],
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return drop_none({"privilege_assignments": page, "next_page_token": token})

    def update_share_permissions(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``PATCH shares/{name}/permissions``; principals are recipient names."""
        with self._lock:
            share = self._share(name)
            changes = body.get("changes") or []
            if not isinstance(changes, list):
                raise invalid_parameter("changes must be a list")
            grants = copy.deepcopy(self.grants.get(share.name, {}))
            for change in changes:
                if not isinstance(change, Mapping) or not change.get("principal"):
                    raise invalid_parameter("UpdatePermissions Missing required field: changes.principal")
                principal = self._recipient(str(change["principal"])).name
                add, remove = change.get("add") or [], change.get("remove") or []
                for privilege in [*add, *remove]:
                    if privilege not in SHARE_PRIVILEGES:
                        raise invalid_parameter(f"Privilege {privilege} is not applicable to this entity [share]")
                privileges = set(grants.get(principal, [])) | set(add)
                privileges -= set(remove)
                grants[principal] = sorted(privileges)
            self.grants[share.name] = {principal: p for principal, p in grants.items() if p}
            self._record(self._grants_change(share.name))
            if body.get("omit_permissions_list"):
                return {}
            return {"privilege_assignments": self._assignments(share.name)}

    def recipient_share_permissions(
        self, name: str, *, max_results: int | None, page_token: str | None
    ) -> dict[str, Any]:
        """Return ``GET recipients/{name}/share-permissions``: the shares granted to the recipient."""
        with self._lock:
            recipient = self._recipient(name)
            granted = [
                {
                    "share_name": share,
                    "privilege_assignments": [{"principal": recipient.name, "privileges": grants[recipient.name]}],
                }
                for share, grants in self.grants.items()
                if grants.get(recipient.name)
            ]
            page, token = paginate(
                granted,
                key=lambda item: item["share_name"],
                max_results=max_results,
                page_token=page_token,
                settings=self.settings,
            )
            return drop_none({"permissions_out": page, "next_page_token": token})
