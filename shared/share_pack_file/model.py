"""The canonical share pack: what a requestor asked for, independent of the file it came in.

This is what the API stores (as `SharePack.to_dict()`, JSONB) and what the worker reads back with
`SharePack.from_dict()`. Instances are only built by the validator (`shared.share_pack_file.validate`) or from
stored canonical data, so they always hold valid, normalised values: recipient, share and data object names
are lowercase because Unity Catalog stores them that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Strategy(StrEnum):
    """What the pack does to the shares and recipients it names."""

    NEW = "NEW"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class RecipientType(StrEnum):
    """D2O is open sharing with a bearer token; D2D is Databricks-to-Databricks via a sharing identifier."""

    D2O = "D2O"
    D2D = "D2D"


class DataObjectType(StrEnum):
    """The kinds of securable a share can hold."""

    TABLE = "TABLE"
    VIEW = "VIEW"
    SCHEMA = "SCHEMA"
    VOLUME = "VOLUME"
    MODEL = "MODEL"


class Authentication(StrEnum):
    """How a recipient authenticates: a bearer token (D2O), its metastore (D2D), or its own identity provider's
    OIDC tokens checked by federation policies (open sharing without a secret)."""

    TOKEN = "token"
    DATABRICKS = "databricks"
    OIDC_FEDERATION = "oidc_federation"


@dataclass(frozen=True)
class PartitionValueSpec:
    """One column condition of a shared partition: a literal ``value`` (None: NULL) or the value of the
    recipient's property ``recipient_property`` (`PartitionValue.recipient_property_key` in databricks-sdk)."""

    name: str
    value: str | None = None
    recipient_property: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the file form: ``{column: value}`` or ``{column: {recipient_property: key}}``."""
        if self.recipient_property is not None:
            return {self.name: {"recipient_property": self.recipient_property}}
        return {self.name: self.value}


#: A shared partition: the column conditions that all hold (databricks-sdk `Partition.values`).
Partition = tuple[PartitionValueSpec, ...]


def partitions_to_list(partitions: tuple[Partition, ...]) -> list[dict[str, Any]]:
    """Return partitions in the file form: one mapping of column conditions per partition."""
    return [{k: v for value in partition for k, v in value.to_dict().items()} for partition in partitions]


def partitions_from_list(data: Any) -> tuple[Partition, ...]:
    """Rebuild partitions from `partitions_to_list` output (trusted, stored by us)."""
    return tuple(
        tuple(
            PartitionValueSpec(column, recipient_property=value["recipient_property"]) if isinstance(value, Mapping)
            else PartitionValueSpec(column, value=value)
            for column, value in partition.items()
        )
        for partition in data or ()
    )


@dataclass(frozen=True)
class DataObjectSpec:
    """One securable in a share: `catalog.schema.table` (or `catalog.schema` for a SCHEMA).

    ``partitions`` limits a table to those partitions; ``cdf_enabled`` shares its change data feed and
    ``start_version`` the first table version recipients may read (None: the pack does not say).
    """

    name: str
    type: DataObjectType = DataObjectType.TABLE
    shared_as: str | None = None
    history: bool | None = None
    partitions: tuple[Partition, ...] = ()
    cdf_enabled: bool | None = None
    start_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical JSON-able form."""
        return {"name": self.name, "type": self.type.value, "shared_as": self.shared_as, "history": self.history,
                "partitions": partitions_to_list(self.partitions), "cdf_enabled": self.cdf_enabled,
                "start_version": self.start_version}

    @classmethod
    def from_dict(cls, o: Mapping[str, Any]) -> DataObjectSpec:
        """Rebuild a data object from `to_dict()` output."""
        return cls(name=o["name"], type=DataObjectType(o.get("type") or DataObjectType.TABLE),
                   shared_as=o.get("shared_as"), history=o.get("history"),
                   partitions=partitions_from_list(o.get("partitions")), cdf_enabled=o.get("cdf_enabled"),
                   start_version=o.get("start_version"))


@dataclass(frozen=True)
class FederationPolicySpec:
    """An OIDC federation policy of an ``oidc_federation`` recipient: tokens from ``issuer`` whose
    ``subject_claim`` is ``subject`` and whose audience is one of ``audiences`` may read its shares."""

    name: str
    issuer: str
    subject_claim: str
    subject: str
    audiences: tuple[str, ...] = ()
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical JSON-able form."""
        return {"name": self.name, "issuer": self.issuer, "subject_claim": self.subject_claim,
                "subject": self.subject, "audiences": list(self.audiences), "comment": self.comment}

    @classmethod
    def from_dict(cls, p: Mapping[str, Any]) -> FederationPolicySpec:
        """Rebuild a policy from `to_dict()` output."""
        return cls(name=p["name"], issuer=p["issuer"], subject_claim=p["subject_claim"], subject=p["subject"],
                   audiences=tuple(p.get("audiences") or ()), comment=p.get("comment"))


@dataclass(frozen=True)
class RecipientSpec:
    """Who receives shares; `email` and `allowed_ips` matter for D2O, `metastore_id` for D2D."""

    name: str
    type: RecipientType
    email: str | None = None
    allowed_ips: tuple[str, ...] = ()
    metastore_id: str | None = None
    comment: str | None = None
    token_expiry_days: int | None = None
    expires_on: str | None = None  # canonical date or UTC datetime (`shared.share_pack_file.expiry`)
    # Sharing fields beyond the anchors (None / empty: the pack does not say).
    properties: Mapping[str, str] = field(default_factory=dict)
    authentication: Authentication | None = None
    federation_policies: tuple[FederationPolicySpec, ...] = ()

    @property
    def authenticates_by(self) -> Authentication:
        """How the recipient authenticates: as declared, else what its type implies."""
        if self.authentication is not None:
            return self.authentication
        return Authentication.DATABRICKS if self.type is RecipientType.D2D else Authentication.TOKEN


@dataclass(frozen=True)
class ShareSpec:
    """A share, the recipients it is granted to and the data objects it holds."""

    name: str
    comment: str | None = None
    recipients: tuple[str, ...] = ()
    data_objects: tuple[DataObjectSpec, ...] = ()
    #: Recipient name -> when its grant on this share ends (canonical, as `RecipientSpec.expires_on`).
    expires_on: Mapping[str, str] = field(default_factory=dict)


class ScdType(StrEnum):
    """How a pipeline keeps its target: SCD type 1 (latest row per key), 2 (history) or a full refresh."""

    SCD1 = "1"
    SCD2 = "2"
    FULL_REFRESH = "full_refresh"


@dataclass(frozen=True)
class PipelineSpec:
    """A DLT pipeline that feeds a shared table from a source table, and its schedule.

    ``schedule`` is a Quartz cron expression (None: no schedule); ``continuous`` pipelines run all the time.
    """

    name: str
    source_table: str | None = None
    target_table: str | None = None
    scd_type: ScdType = ScdType.SCD1
    key_columns: tuple[str, ...] = ()
    schedule: str | None = None
    continuous: bool = False
    timezone: str = "UTC"
    notification_list: tuple[str, ...] = ()
    serverless: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical JSON-able form (the file vocabulary; ``schedule`` is ``continuous`` or cron)."""
        return {
            "name": self.name,
            "source_table": self.source_table,
            "target_table": self.target_table,
            "scd_type": self.scd_type.value,
            "key_columns": list(self.key_columns),
            "schedule": "continuous" if self.continuous else self.schedule,
            "timezone": self.timezone,
            "notification_list": list(self.notification_list),
            "serverless": self.serverless,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineSpec:
        """Rebuild a pipeline from `to_dict()` output."""
        schedule = data.get("schedule")
        return cls(
            name=data["name"],
            source_table=data.get("source_table"),
            target_table=data.get("target_table"),
            scd_type=ScdType(data.get("scd_type") or ScdType.SCD1),
            key_columns=tuple(data.get("key_columns") or ()),
            schedule=None if schedule == "continuous" else schedule,
            continuous=schedule == "continuous",
            timezone=data.get("timezone") or "UTC",
            notification_list=tuple(data.get("notification_list") or ()),
            serverless=data.get("serverless", True) is not False,
            tags=dict(data.get("tags") or {}),
        )


@dataclass(frozen=True)
class Metadata:
    """Who asks, for which project, and what the pack does (the strategy)."""

    requestor: str
    project_name: str
    business_line: str
    strategy: Strategy
    description: str | None = None
    workspace_url: str | None = None
    service_now_ticket: str | None = None
    ado_ticket: str | None = None


@dataclass(frozen=True)
class SharePackSpec:
    """A whole, valid request: metadata, the recipients it declares and the shares it defines."""

    metadata: Metadata
    recipients: tuple[RecipientSpec, ...]
    shares: tuple[ShareSpec, ...]
    pipelines: tuple[PipelineSpec, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical JSON-able form, keyed by the file vocabulary (`metadata`, `recipient`, `share`).

        Every field is present (None or [] when unset) so stored packs have one shape.
        """
        m = self.metadata
        return {
            "metadata": {
                "requestor": m.requestor,
                "project_name": m.project_name,
                "business_line": m.business_line,
                "strategy": m.strategy.value,
                "description": m.description,
                "workspace_url": m.workspace_url,
                "service_now_ticket": m.service_now_ticket,
                "ado_ticket": m.ado_ticket,
            },
            "recipient": [
                {
                    "name": r.name,
                    "type": r.type.value,
                    "email": r.email,
                    "allowed_ips": list(r.allowed_ips),
                    "metastore_id": r.metastore_id,
                    "comment": r.comment,
                    "token_expiry_days": r.token_expiry_days,
                    "expires_on": r.expires_on,
                    "properties": dict(r.properties),
                    "authentication": r.authentication.value if r.authentication else None,
                    "federation_policies": [p.to_dict() for p in r.federation_policies],
                }
                for r in self.recipients
            ],
            "share": [
                {
                    "name": s.name,
                    "comment": s.comment,
                    "recipients": list(s.recipients),
                    "data_objects": [o.to_dict() for o in s.data_objects],
                    "expires_on": dict(s.expires_on),
                }
                for s in self.shares
            ],
            "pipelines": [p.to_dict() for p in self.pipelines],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SharePackSpec:
        """Rebuild a pack from `to_dict()` output (trusted: stored by us, so only types are restored)."""
        m = data["metadata"]
        return cls(
            metadata=Metadata(
                requestor=m["requestor"],
                project_name=m["project_name"],
                business_line=m["business_line"],
                strategy=Strategy(m["strategy"]),
                description=m.get("description"),
                workspace_url=m.get("workspace_url"),
                service_now_ticket=m.get("service_now_ticket"),
                ado_ticket=m.get("ado_ticket"),
            ),
            recipients=tuple(
                RecipientSpec(
                    name=r["name"],
                    type=RecipientType(r["type"]),
                    email=r.get("email"),
                    allowed_ips=tuple(r.get("allowed_ips") or ()),
                    metastore_id=r.get("metastore_id"),
                    comment=r.get("comment"),
                    token_expiry_days=r.get("token_expiry_days"),
                    expires_on=r.get("expires_on"),
                    properties=dict(r.get("properties") or {}),
                    authentication=Authentication(r["authentication"]) if r.get("authentication") else None,
                    federation_policies=tuple(FederationPolicySpec.from_dict(p) for p in r.get("federation_policies")
                                              or ()),
                )
                for r in data.get("recipient") or ()
            ),
            shares=tuple(
                ShareSpec(
                    name=s["name"],
                    comment=s.get("comment"),
                    recipients=tuple(s.get("recipients") or ()),
                    data_objects=tuple(DataObjectSpec.from_dict(o) for o in s.get("data_objects") or ()),
                    expires_on=dict(s.get("expires_on") or {}),
                )
                for s in data.get("share") or ()
            ),
            pipelines=tuple(PipelineSpec.from_dict(p) for p in data.get("pipelines") or ()),
        )
