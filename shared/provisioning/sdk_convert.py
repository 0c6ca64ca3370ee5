"""Translate between databricks-sdk's sharing types and the engine's `workspace_state` snapshots.

Reading normalises what the diff compares (names lowercase, empty comments as None, properties sorted,
predefined ``databricks.`` properties left out: Databricks sets them, a pack cannot); writing builds the
`SharedDataObjectUpdate` of one object change. Field names follow databricks-sdk 0.162
(`RecipientInfo.properties_kvpairs`, `SharedDataObject.partitions`, `cdf_enabled`, `start_version`).
"""

from __future__ import annotations

from collections.abc import Iterable

from databricks.sdk.service.sharing import (
    AuthenticationType,
    FederationPolicy,
    OidcFederationPolicy,
    Partition,
    PartitionValue,
    PartitionValueOp,
    RecipientInfo,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
    ShareInfo,
)

from shared.provisioning.workspace_state import (
    TABLE_LIKE_TYPES,
    RecipientState,
    SharedObjectState,
    ShareState,
    normalize_comment,
)
from shared.share_pack_file.model import FederationPolicySpec, PartitionValueSpec

#: Recipient properties Databricks predefines (databricks.accountId, ...); never ours to compare or set.
PREDEFINED_PROPERTY_PREFIX = "databricks."


def privileges(privileges: Iterable[object] | None) -> set[str]:
    """Return privilege names, whatever the SDK made of them (enum members or strings)."""
    return {getattr(p, "value", p) for p in privileges or () if p is not None}  # type: ignore[misc]


def recipient_state(info: RecipientInfo) -> RecipientState:
    """Return a recipient as the diff compares it (its federation policies are read on their own)."""
    ips = info.ip_access_list.allowed_ip_addresses if info.ip_access_list else None
    return RecipientState(
        name=(info.name or "").lower(),
        authentication_type=info.authentication_type.value if info.authentication_type else "",
        data_recipient_global_metastore_id=(info.data_recipient_global_metastore_id or "").lower() or None,
        allowed_ips=frozenset(ips or ()),
        comment=normalize_comment(info.comment),
        activated=bool(info.activated),
        expiration_time=info.expiration_time,
        databricks_id=info.id,
        properties=tuple(sorted(
            (key, value) for key, value in (info.properties_kvpairs.properties if info.properties_kvpairs else {})
            .items() if not key.lower().startswith(PREDEFINED_PROPERTY_PREFIX)
        )),
    )


def federation_policy_spec(policy: FederationPolicy) -> FederationPolicySpec:
    """Return a federation policy as the pack declares it."""
    oidc = policy.oidc_policy
    return FederationPolicySpec(
        name=policy.name or "",
        issuer=oidc.issuer if oidc else "",
        subject_claim=oidc.subject_claim if oidc else "",
        subject=oidc.subject if oidc else "",
        audiences=tuple(oidc.audiences or ()) if oidc else (),
        comment=policy.comment or None,
    )


def federation_policy(spec: FederationPolicySpec) -> FederationPolicy:
    """Return the SDK policy to create for a declared one."""
    return FederationPolicy(
        name=spec.name,
        comment=spec.comment,
        oidc_policy=OidcFederationPolicy(issuer=spec.issuer, subject_claim=spec.subject_claim, subject=spec.subject,
                                         audiences=list(spec.audiences) or None),
    )


def activation_link(info: RecipientInfo) -> str | None:
    """Return the newest not yet downloaded activation link of a TOKEN recipient."""
    if info.authentication_type is not AuthenticationType.TOKEN:
        return None
    pending = [t.activation_url for t in info.tokens or () if t.activation_url]
    return pending[-1] if pending else info.activation_url or None


def share_state(info: ShareInfo) -> ShareState:
    """Return a share and its objects as the diff compares them."""
    return ShareState(
        name=(info.name or "").lower(),
        comment=normalize_comment(info.comment),
        objects=frozenset(
            SharedObjectState(
                name=obj.name.lower(),
                type=obj.data_object_type.value if obj.data_object_type else "TABLE",
                shared_as=(obj.shared_as or obj.string_shared_as or "").lower() or None,
                history=obj.history_data_sharing_status is SharedDataObjectHistoryDataSharingStatus.ENABLED,
                partitions=tuple(_partition_spec(p) for p in obj.partitions or ()),
                cdf_enabled=obj.cdf_enabled if obj.cdf_enabled else None,
                start_version=obj.start_version,
            )
            for obj in info.objects or ()
            if obj.name
        ),
    )


def _partition_spec(partition: Partition) -> tuple[PartitionValueSpec, ...]:
    return tuple(
        PartitionValueSpec((value.name or "").lower(), value=value.value,
                           recipient_property=value.recipient_property_key)
        for value in partition.values or ()
    )


def _partition(partition: tuple[PartitionValueSpec, ...]) -> Partition:
    return Partition(values=[
        PartitionValue(name=value.name, op=PartitionValueOp.EQUAL, value=value.value,
                       recipient_property_key=value.recipient_property)
        for value in partition
    ])


def object_update(action: SharedDataObjectUpdateAction, obj: SharedObjectState) -> SharedDataObjectUpdate:
    """Return one object change; an ADD or UPDATE carries the sharing fields the pack sets.

    An UPDATE sends the whole declared definition: partitions replace the shared ones (an empty list
    shares the whole table again), so only a pack that declared partitions before sends one.
    """
    # A removal or an update names the alias it is shared under, so the right one is found when a table is
    # shared twice.
    alias = obj.shared_as if action is SharedDataObjectUpdateAction.ADD else obj.alias
    table_like = obj.type in TABLE_LIKE_TYPES
    carries = action is not SharedDataObjectUpdateAction.REMOVE
    history = None
    if obj.history is not None and carries:
        history = (
            SharedDataObjectHistoryDataSharingStatus.ENABLED
            if obj.history
            else SharedDataObjectHistoryDataSharingStatus.DISABLED
        )
    return SharedDataObjectUpdate(
        action=action,
        data_object=SharedDataObject(
            name=obj.name,
            data_object_type=SharedDataObjectDataObjectType(obj.type),
            shared_as=alias if table_like else None,
            string_shared_as=None if table_like else alias,
            history_data_sharing_status=history,
            partitions=[_partition(p) for p in obj.partitions] if carries and obj.partitions else None,
            cdf_enabled=obj.cdf_enabled if carries else None,
            start_version=obj.start_version if carries else None,
        ),
    )
