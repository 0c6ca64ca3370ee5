"""Snapshots of what exists in a workspace, in the provisioner's own terms (no SDK types).

The gateway reads these; the plan compares a share pack against them. They hold only the fields the diff
needs, already normalised (names lowercase, IP lists as sets, empty comments as None) so that ordering and
server-filled fields can never show up as a change. The same types describe what to create: a
`RecipientState` handed to the gateway's ``create_recipient`` is "a recipient that should exist".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.provisioning.pipeline_state import PipelineState
from shared.share_pack_file.model import FederationPolicySpec, Partition, partitions_from_list, partitions_to_list

TOKEN = "TOKEN"  # open sharing (D2O): a bearer token delivered through an activation link
DATABRICKS = "DATABRICKS"  # Databricks-to-Databricks (D2D): identified by the recipient's metastore id
OIDC_FEDERATION = "OIDC_FEDERATION"  # open sharing (D2O) without a secret: the client's own OIDC tokens

# Object types whose alias is `shared_as` (`<schema>.<table>`, defaulted by the server); other types
# carry `string_shared_as` or no alias at all.
TABLE_LIKE_TYPES = frozenset({"TABLE", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "FOREIGN_TABLE"})


def normalize_comment(comment: str | None) -> str | None:
    """Return the comment with "no comment" spelled one way (None), so "" never differs from absent."""
    return comment or None


def default_shared_as(name: str, object_type: str) -> str | None:
    """Return the alias the server gives a table-like object added without one (`<schema>.<table>`)."""
    parts = name.split(".")
    if object_type in TABLE_LIKE_TYPES and len(parts) == 3:
        return f"{parts[1]}.{parts[2]}"
    return None


@dataclass(frozen=True)
class RecipientCreated:
    """What creating a recipient gives back: its activation link (a credential; TOKEN only) and its id."""

    activation_link: str | None = field(default=None, repr=False)
    databricks_id: str | None = None


@dataclass(frozen=True)
class RecipientState:
    """A Delta Sharing recipient.

    ``activated`` is server-filled (a TOKEN recipient whose credential was downloaded); it never causes a
    change, it only tells whether an activation link is still worth delivering. ``expiration_time`` is
    the token expiry in epoch milliseconds (only used when creating). ``databricks_id`` is the id
    Databricks gave it (known once read or created; never part of a comparison).
    """

    name: str
    authentication_type: str
    data_recipient_global_metastore_id: str | None = None
    allowed_ips: frozenset[str] = frozenset()
    comment: str | None = None
    activated: bool = False
    expiration_time: int | None = None
    databricks_id: str | None = field(default=None, compare=False)
    # Custom properties as sorted (key, value) pairs, and the federation policies of an OIDC_FEDERATION one.
    properties: tuple[tuple[str, str], ...] = ()
    federation_policies: tuple[FederationPolicySpec, ...] = ()

    @property
    def kind(self) -> str:
        """Return the share pack's word for the type: D2O (token) or D2D (Databricks)."""
        return "D2D" if self.authentication_type == DATABRICKS else "D2O"

    def describe(self) -> dict[str, object]:
        """Return the definition as JSON-able data (for plans and audit rows; holds no secret)."""
        return {
            "type": self.kind,
            "authentication_type": self.authentication_type,
            "data_recipient_global_metastore_id": self.data_recipient_global_metastore_id,
            "allowed_ips": sorted(self.allowed_ips),
            "comment": self.comment,
            **({"properties": dict(self.properties)} if self.properties else {}),
            **({"federation_policies": [p.to_dict() for p in self.federation_policies]}
               if self.federation_policies else {}),
        }


@dataclass(frozen=True)
class SharedObjectState:
    """A data object in a share. ``shared_as`` is the alias recipients see (None: server default)."""

    name: str
    type: str = "TABLE"
    shared_as: str | None = None
    history: bool | None = None
    # What of a table is shared: some partitions only (empty: all), its change data feed, from a version.
    partitions: tuple[Partition, ...] = ()
    cdf_enabled: bool | None = None
    start_version: int | None = None

    @property
    def alias(self) -> str | None:
        """Return the alias the object is (or will be) known under in its share."""
        return self.shared_as or default_shared_as(self.name, self.type)

    def describe(self) -> dict[str, object]:
        """Return the object as JSON-able data (the sharing fields only when set, so older plans read alike)."""
        described: dict[str, object] = {"type": self.type, "shared_as": self.shared_as, "history": self.history}
        if self.partitions:
            described["partitions"] = partitions_to_list(self.partitions)
        if self.cdf_enabled is not None:
            described["cdf_enabled"] = self.cdf_enabled
        if self.start_version is not None:
            described["start_version"] = self.start_version
        return described

    @classmethod
    def from_description(cls, name: str, values: Mapping[str, Any]) -> SharedObjectState:
        """Rebuild an object from `describe` output."""
        return cls(name=name, type=values.get("type") or "TABLE", shared_as=values.get("shared_as"),
                   history=values.get("history"), partitions=partitions_from_list(values.get("partitions")),
                   cdf_enabled=values.get("cdf_enabled"), start_version=values.get("start_version"))


@dataclass(frozen=True)
class ShareState:
    """A share and the data objects in it."""

    name: str
    comment: str | None = None
    objects: frozenset[SharedObjectState] = frozenset()

    def objects_named(self) -> dict[str, list[SharedObjectState]]:
        """Return the objects grouped by table name (a table can be shared under several aliases)."""
        grouped: dict[str, list[SharedObjectState]] = {}
        for obj in sorted(self.objects, key=lambda o: (o.name, o.alias or "")):
            grouped.setdefault(obj.name, []).append(obj)
        return grouped


@dataclass(frozen=True)
class WorkspaceState:
    """What a workspace holds, as far as one share pack is concerned.

    Attributes:
        recipients: every recipient in the metastore, by name (one list call reads them all).
        shares: the shares the pack names that exist, by name, with their objects (DELETE reads no objects).
        pipelines: every pipeline this service made in the workspace, by name, with its schedule.
        grants: share name → recipients holding SELECT on it. Complete for the shares in ``shares``; for a
            DELETE it also holds the grants of the recipients being deleted on shares the pack does not name.
    """

    recipients: Mapping[str, RecipientState] = field(default_factory=dict)
    shares: Mapping[str, ShareState] = field(default_factory=dict)
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    pipelines: Mapping[str, PipelineState] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        recipients: Iterable[RecipientState] = (),
        shares: Iterable[ShareState] = (),
        grants: Mapping[str, Iterable[str]] | None = None,
    ) -> WorkspaceState:
        """Build a state from plain iterables (keys are taken from the names)."""
        return cls(
            recipients={r.name: r for r in recipients},
            shares={s.name: s for s in shares},
            grants={share: frozenset(names) for share, names in (grants or {}).items()},
        )

    def merged(self, other: WorkspaceState) -> WorkspaceState:
        """Return the union of two reads of one workspace (e.g. for two packs' names)."""
        grants = dict(self.grants)
        for share, names in other.grants.items():
            grants[share] = grants.get(share, frozenset()) | names
        return WorkspaceState(
            recipients={**self.recipients, **other.recipients},
            shares={**self.shares, **other.shares},
            grants=grants,
            pipelines={**self.pipelines, **other.pipelines},
        )

    def grantees(self, share: str) -> frozenset[str]:
        """Return the recipients holding SELECT on a share (empty if none or unknown)."""
        return self.grants.get(share, frozenset())
