"""One page of a listing: the rows, how many match in all, and where the page sits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows `(page - 1) * page_size` onwards of a filtered, ordered listing, and the total that matched."""

    items: list[T]
    total: int
    page: int
    page_size: int


def paginate(
    session: Session,
    model: type[T],
    conditions: Sequence[ColumnElement[bool]],
    *,
    order_by: Sequence[Any],
    page: int,
    page_size: int,
) -> Page[T]:
    """The page of `model` rows matching every condition, in `order_by` order (make it total: add a key)."""
    total = session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    items = list(
        session.scalars(
            select(model).where(*conditions).order_by(*order_by).limit(page_size).offset((page - 1) * page_size)
        )
    )
    return Page(items=items, total=total, page=page, page_size=page_size)
