"""Short builders for share packs in provisioning tests."""

from __future__ import annotations

from collections.abc import Iterable

from shared.share_pack_file.model import (
    DataObjectSpec,
    DataObjectType,
    Metadata,
    PipelineSpec,
    RecipientSpec,
    RecipientType,
    ScdType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

METASTORE_A = "azure:westeurope:8e4a0c71-5d0c-4a4e-9f57-6cbd2f3e0b11"
METASTORE_B = "azure:northeurope:1b2c3d4e-5f60-4a4e-9f57-6cbd2f3e0b22"


def d2o(
    name: str, *, ips: Iterable[str] = (), comment: str | None = None, expiry_days: int | None = None
) -> RecipientSpec:
    """Return an open-sharing recipient."""
    return RecipientSpec(
        name=name,
        type=RecipientType.D2O,
        email=f"{name}@example.com",
        allowed_ips=tuple(ips),
        comment=comment,
        token_expiry_days=expiry_days,
    )


def d2d(name: str, metastore_id: str = METASTORE_A, *, comment: str | None = None) -> RecipientSpec:
    """Return a Databricks-to-Databricks recipient."""
    return RecipientSpec(name=name, type=RecipientType.D2D, metastore_id=metastore_id, comment=comment)


def table(name: str, *, shared_as: str | None = None, history: bool | None = None) -> DataObjectSpec:
    """Return a table data object."""
    return DataObjectSpec(name=name, type=DataObjectType.TABLE, shared_as=shared_as, history=history)


def share(
    name: str,
    objects: Iterable[DataObjectSpec | str] = (),
    *,
    recipients: Iterable[str] = (),
    comment: str | None = None,
) -> ShareSpec:
    """Return a share; plain strings are tables."""
    return ShareSpec(
        name=name,
        comment=comment,
        recipients=tuple(recipients),
        data_objects=tuple(table(o) if isinstance(o, str) else o for o in objects),
    )


def pack(
    strategy: Strategy,
    *,
    recipients: Iterable[RecipientSpec] = (),
    shares: Iterable[ShareSpec] = (),
    pipelines: Iterable[PipelineSpec] = (),
) -> SharePackSpec:
    """Return a share pack."""
    return SharePackSpec(
        metadata=Metadata(
            requestor="alice@example.com",
            project_name="reporting",
            business_line="sales",
            strategy=strategy,
        ),
        recipients=tuple(recipients),
        shares=tuple(shares),
        pipelines=tuple(pipelines),
    )


def pipeline(
    name: str,
    target: str,
    *,
    source: str | None = None,
    scd: ScdType = ScdType.SCD1,
    keys: Iterable[str] = (),
    cron: str | None = None,
    continuous: bool = False,
    emails: Iterable[str] = (),
) -> PipelineSpec:
    """Return a pipeline feeding ``target`` (from ``raw.<schema>.<table>`` unless ``source`` is given)."""
    return PipelineSpec(
        name=name,
        source_table=source or "raw." + target.split(".", 1)[1],
        target_table=target,
        scd_type=scd,
        key_columns=tuple(keys),
        schedule=cron,
        continuous=continuous,
        notification_list=tuple(emails),
    )
