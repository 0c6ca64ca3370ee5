"""An in-memory workspace behind our `WorkspaceGateway` interface, for unit tests of the provisioner's logic.

It keeps the rules the provisioner relies on — lowercase names, objects keyed by alias, all-or-nothing share
updates of at most 100 changes, already-exists / does-not-exist refusals — and records every call so tests
can assert on what was sent. Real SDK behaviour is covered by the integration tests on the emulator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.provisioning.errors import ObjectAlreadyExists, ObjectDoesNotExist, ProvisioningError
from shared.provisioning.plan import MAX_UPDATES_PER_CALL
from shared.provisioning.workspace_state import (
    TOKEN,
    RecipientCreated,
    RecipientState,
    SharedObjectState,
    ShareState,
    WorkspaceState,
)
from shared.share_pack_file.model import FederationPolicySpec, SharePackSpec, Strategy


@dataclass
class FakeShare:
    comment: str | None = None
    objects: dict[str, SharedObjectState] = field(default_factory=dict)  # alias (or name) -> object
    grantees: set[str] = field(default_factory=set)


class FakeWorkspaceGateway:
    """A workspace in memory. ``fail_next[(method, name)] = error`` makes the next such call raise."""

    def __init__(self, *, tables: Iterable[str] | None = None) -> None:
        self.recipients: dict[str, RecipientState] = {}
        self.shares: dict[str, FakeShare] = {}
        self.tables = set(tables) if tables is not None else None  # None: every table exists
        self.calls: list[tuple[str, str]] = []
        self.fail_next: dict[tuple[str, str], ProvisioningError] = {}
        self.activation_links: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- helpers for tests ---------------------------------------------------------------------------

    def _record(self, method: str, name: str) -> None:
        with self._lock:
            self.calls.append((method, name))
            error = self.fail_next.pop((method, name), None)
        if error is not None:
            raise error

    def calls_to(self, method: str) -> list[str]:
        """Return the names the given method was called with, in order."""
        return [name for m, name in self.calls if m == method]

    def seed_share(
        self, name: str, *, comment: str | None = None, objects: Iterable[str] = (), grantees: Iterable[str] = ()
    ) -> None:
        share = FakeShare(comment=comment, grantees=set(grantees))
        for table in objects:
            obj = SharedObjectState(name=table, type="TABLE", shared_as=None, history=False)
            share.objects[obj.alias or obj.name] = replace(obj, shared_as=obj.alias)
        self.shares[name] = share

    # -- WorkspaceGateway ----------------------------------------------------------------------------

    def read_state(self, spec: SharePackSpec) -> WorkspaceState:
        self._record("read_state", "")
        named = [s.name for s in spec.shares if s.name in self.shares]
        grants = {name: frozenset(self.shares[name].grantees) for name in named}
        if spec.metadata.strategy is Strategy.DELETE:
            doomed = {r.name for r in spec.recipients}
            for name, share in self.shares.items():
                if name not in grants and share.grantees & doomed:
                    grants[name] = frozenset(share.grantees & doomed)
        return WorkspaceState(
            recipients=dict(self.recipients),
            shares={name: self._share_state(name) for name in named},
            grants=grants,
        )

    def _share_state(self, name: str) -> ShareState:
        share = self.shares[name]
        return ShareState(name=name, comment=share.comment, objects=frozenset(share.objects.values()))

    def get_recipient(self, name: str) -> RecipientState | None:
        self._record("get_recipient", name)
        return self.recipients.get(name)

    def activation_link(self, name: str) -> str | None:
        self._record("activation_link", name)
        recipient = self.recipients.get(name)
        if recipient is None or recipient.authentication_type != TOKEN or recipient.activated:
            return None
        return self.activation_links.get(name)

    def create_recipient(self, recipient: RecipientState) -> RecipientCreated:
        self._record("create_recipient", recipient.name)
        if recipient.name in self.recipients:
            raise ObjectAlreadyExists(
                f"Recipient {recipient.name} already exists", error_code="RECIPIENT_ALREADY_EXISTS"
            )
        recipient = replace(recipient, databricks_id=f"id-{recipient.name}", federation_policies=())
        self.recipients[recipient.name] = recipient
        if recipient.authentication_type != TOKEN:
            return RecipientCreated(databricks_id=recipient.databricks_id)
        link = f"https://example.test/delta_sharing/retrieve_config.html?secret-{recipient.name}"
        self.activation_links[recipient.name] = link
        return RecipientCreated(activation_link=link, databricks_id=recipient.databricks_id)

    def update_recipient(
        self, name: str, *, comment: str | None = None, allowed_ips: frozenset[str] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        self._record("update_recipient", name)
        current = self._recipient(name)
        self.recipients[name] = replace(
            current,
            comment=comment if comment is not None else current.comment,
            allowed_ips=allowed_ips if allowed_ips is not None else current.allowed_ips,
            properties=tuple(sorted(properties.items())) if properties is not None else current.properties,
        )

    def list_federation_policies(self, name: str) -> tuple[FederationPolicySpec, ...]:
        return self._recipient(name).federation_policies

    def create_federation_policy(self, name: str, policy: FederationPolicySpec) -> None:
        self._record("create_federation_policy", name)
        current = self._recipient(name)
        policies = tuple(sorted((*current.federation_policies, policy), key=lambda p: p.name))
        self.recipients[name] = replace(current, federation_policies=policies)

    def delete_federation_policy(self, name: str, policy: str) -> None:
        self._record("delete_federation_policy", name)
        current = self._recipient(name)
        kept = tuple(p for p in current.federation_policies if p.name != policy)
        self.recipients[name] = replace(current, federation_policies=kept)

    def delete_recipient(self, name: str) -> None:
        self._record("delete_recipient", name)
        self._recipient(name)
        del self.recipients[name]
        for share in self.shares.values():
            share.grantees.discard(name)

    def _recipient(self, name: str) -> RecipientState:
        if name not in self.recipients:
            raise ObjectDoesNotExist(f"Recipient '{name}' does not exist", error_code="RECIPIENT_DOES_NOT_EXIST")
        return self.recipients[name]

    def _share(self, name: str) -> FakeShare:
        if name not in self.shares:
            raise ObjectDoesNotExist(f"Share {name} does not exist.", error_code="SHARE_DOES_NOT_EXIST")
        return self.shares[name]

    def get_share(self, name: str) -> ShareState | None:
        self._record("get_share", name)
        return self._share_state(name) if name in self.shares else None

    def create_share(self, name: str, *, comment: str | None) -> None:
        self._record("create_share", name)
        if name in self.shares:
            raise ObjectAlreadyExists(f"Share {name} already exists", error_code="SHARE_ALREADY_EXISTS")
        self.shares[name] = FakeShare(comment=comment)

    def update_share_comment(self, name: str, comment: str) -> None:
        self._record("update_share_comment", name)
        self._share(name).comment = comment

    def delete_share(self, name: str) -> None:
        self._record("delete_share", name)
        self._share(name)
        del self.shares[name]

    def update_share_objects(
        self, name: str, *, remove: Sequence[SharedObjectState] = (), add: Sequence[SharedObjectState] = (),
        update: Sequence[SharedObjectState] = (),
    ) -> None:
        self._record("update_share_objects", name)
        assert len(remove) + len(add) + len(update) <= MAX_UPDATES_PER_CALL, "more than 100 updates in one call"
        objects = dict(self._share(name).objects)  # all or nothing
        touched: set[str] = set()
        for obj in remove:
            key = obj.alias or obj.name
            assert key not in touched, f"two updates of {key} in one call"
            touched.add(key)
            if key not in objects:
                raise ObjectDoesNotExist(
                    f"Shared Table '{obj.name}' does not exist", error_code="RESOURCE_DOES_NOT_EXIST"
                )
            del objects[key]
        for obj in add:
            key = obj.alias or obj.name
            assert key not in touched, f"two updates of {key} in one call"
            touched.add(key)
            if key in objects:
                raise ObjectAlreadyExists(
                    f"Shared Table '{obj.name}' already exists", error_code="RESOURCE_ALREADY_EXISTS"
                )
            if self.tables is not None and obj.name not in self.tables:
                raise ObjectDoesNotExist(f"Table '{obj.name}' does not exist", error_code="TABLE_DOES_NOT_EXIST")
            objects[key] = replace(obj, shared_as=obj.alias, history=bool(obj.history))
        for obj in update:
            key = obj.alias or obj.name
            assert key in objects and key not in touched, f"update of {key} not shared or touched twice"
            objects[key] = replace(objects[key], partitions=obj.partitions, cdf_enabled=obj.cdf_enabled or None,
                                   start_version=obj.start_version)
        self.shares[name].objects = objects

    def get_share_grantees(self, name: str) -> frozenset[str] | None:
        self._record("get_share_grantees", name)
        return frozenset(self.shares[name].grantees) if name in self.shares else None

    def update_share_grants(self, name: str, *, grant: Iterable[str] = (), revoke: Iterable[str] = ()) -> None:
        self._record("update_share_grants", name)
        share = self._share(name)
        grant, revoke = list(grant), list(revoke)
        for recipient in [*grant, *revoke]:
            self._recipient(recipient)
        share.grantees = (share.grantees | set(grant)) - set(revoke)
