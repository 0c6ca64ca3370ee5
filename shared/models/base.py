"""Declarative base, naming convention and the two table shapes every domain table takes.

`Versioned` tables keep SCD Type 2 history: every change closes the current row and inserts the next
version, so any past state can be read back. The database itself enforces the history rules (one current
row per business id, unique versions, ordered validity intervals); `shared/models/history.py` is the one API that
writes them. `AppendOnly` tables are logs: rows are added, never rewritten or deleted (a trigger in the
migration refuses it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

DOMAIN_SCHEMA = "deltashare"
RUNTIME_SCHEMA = "workflow_runtime"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
        str: Text,
    }


class Versioned:
    """SCD Type 2 columns and the constraints that make history trustworthy.

    Subclasses set `__business_key__` (the stable id column shared by all versions) and may set
    `__current_unique__`: tuples of columns that must be unique among current, not-deleted rows (natural
    keys such as a share name within a workspace), and `__extra_table_args__`.
    """

    __business_key__: ClassVar[str]
    __current_unique__: ClassVar[tuple[tuple[str, ...], ...]] = ()
    __extra_table_args__: ClassVar[tuple[Any, ...]] = ()
    # Fetch server-computed values (effective_from) with RETURNING at insert instead of a later SELECT.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    record_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_deleted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    effective_from: Mapped[datetime] = mapped_column(server_default=text("now()"))
    effective_to: Mapped[datetime | None]
    created_by: Mapped[str]
    change_reason: Mapped[str | None]

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        table = cls.__tablename__  # type: ignore[attr-defined]
        key = cls.__business_key__
        args: list[Any] = [
            UniqueConstraint(key, "version"),
            Index(f"uq_{table}_current_{key}", key, unique=True, postgresql_where=text("is_current")),
            CheckConstraint("version >= 1", name="version_positive"),
            CheckConstraint(
                "effective_to IS NULL OR effective_to > effective_from", name="effective_interval_ordered"
            ),
            CheckConstraint("is_current = (effective_to IS NULL)", name="current_iff_open"),
        ]
        for columns in cls.__current_unique__:
            args.append(
                Index(
                    f"uq_{table}_current_{'_'.join(columns)}",
                    *columns,
                    unique=True,
                    postgresql_where=text("is_current AND NOT is_deleted"),
                )
            )
        args.extend(cls.__extra_table_args__)
        args.append({"schema": DOMAIN_SCHEMA})
        return tuple(args)


class AppendOnly:
    """Marker for log tables: rows are inserted and never rewritten (enforced by a database trigger).

    `__mutable_columns__` names the few delivery columns a log row may still fill in after insert
    (a notification's `status`, a sync job's `completed_at`); every other column is frozen.
    """

    __mutable_columns__: ClassVar[tuple[str, ...]] = ()


def lowercase_check(column: str) -> CheckConstraint:
    """Unity Catalog names are case-insensitive and stored lowercase; store them the same way."""
    return CheckConstraint(f"{column} = lower({column})", name=f"{column}_lowercase")


def one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> CheckConstraint:
    """A CHECK that `column` holds one of `values` (VARCHAR + CHECK: adding a value needs no type change)."""
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_valid")


__all__ = ["DOMAIN_SCHEMA", "RUNTIME_SCHEMA", "AppendOnly", "Base", "String", "Versioned"]
