"""Small builders shared by the emulator tests."""

from __future__ import annotations

from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

D2D_SHARING_ID = "azure:westeurope:8e4a0c71-5d0c-4a4e-9f57-6cbd2f3e0b11"


def table_update(
    action: SharedDataObjectUpdateAction, name: str, *, shared_as: str | None = None
) -> SharedDataObjectUpdate:
    """Return one share update for a table."""
    return SharedDataObjectUpdate(
        action=action,
        data_object=SharedDataObject(
            name=name, data_object_type=SharedDataObjectDataObjectType.TABLE, shared_as=shared_as
        ),
    )


def add(name: str, *, shared_as: str | None = None) -> SharedDataObjectUpdate:
    """Return an ADD of a table."""
    return table_update(SharedDataObjectUpdateAction.ADD, name, shared_as=shared_as)


def remove(name: str, *, shared_as: str | None = None) -> SharedDataObjectUpdate:
    """Return a REMOVE of a table."""
    return table_update(SharedDataObjectUpdateAction.REMOVE, name, shared_as=shared_as)
