"""What every part of the emulated workspace shares: names, paging, behaviour knobs and the model's lock.

The workspace is split by what it holds (:mod:`dev.emulator.catalog`, :mod:`dev.emulator.recipients`,
:mod:`dev.emulator.shares`, :mod:`dev.emulator.permissions`, :mod:`dev.emulator.persistence`), each a mixin over
:class:`WorkspaceBase`, composed in :mod:`dev.emulator.state`. The base declares the model they all read and
the one hook they all call, :meth:`WorkspaceBase._record`, which persistence provides.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dev.emulator.errors import ApiError, ErrorCodeStyle, already_exists, does_not_exist, invalid_parameter
from dev.emulator.journal import Change, StateStore

if TYPE_CHECKING:
    from dev.emulator.catalog import Metastore, Table
    from dev.emulator.recipients import Recipient
    from dev.emulator.shares import Share

MAX_NAME_LENGTH = 255

_INVALID_NAME_CHARS = re.compile(r"[.\s/\x00-\x1f\x7f]")

T = TypeVar("T")


def now_ms() -> int:
    """Return the current time in epoch milliseconds, Unity Catalog's timestamp unit."""
    return int(time.time() * 1000)


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the mapping without ``None`` values: the API omits unset fields rather than sending null."""
    return {key: value for key, value in values.items() if value is not None}


def validate_securable_name(name: Any, *, operation: str) -> str:
    """Return the lowercase form of a recipient or share name, or raise 400 for an unusable one."""
    if name is None or name == "":
        raise invalid_parameter(f"{operation} Missing required field: name")
    if not isinstance(name, str):
        raise invalid_parameter(f"{name!r} is not a valid name")
    if len(name) > MAX_NAME_LENGTH or _INVALID_NAME_CHARS.search(name):
        raise invalid_parameter(f"{name} is not a valid name")
    return name.lower()


def paginate(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    max_results: int | None,
    page_token: str | None,
    settings: WorkspaceSettings,
) -> tuple[list[T], str | None]:
    """Return one page of ``items`` (sorted by ``key``) and the token of the next page, if any.

    As documented for the Unity Catalog list calls (e.g.
    https://docs.databricks.com/api/workspace/recipients/list): ``max_results`` > 0 is the page size,
    0 means "the server's page size" (``settings.page_size``; ``None``: everything), absent means
    everything at once, and < 0 is INVALID_PARAMETER_VALUE. Only an absent ``next_page_token`` ends a
    list; a page may be short or even empty and still carry one (``settings.empty_first_page`` serves
    such a page first, so clients are tested against it).

    The token names the last item returned rather than an offset, so creating or deleting objects
    between two pages neither repeats nor skips the others (what a real keyset-paginated API does).
    """
    if max_results is not None and max_results < 0:
        raise invalid_parameter(f"max_results must be non-negative, got {max_results}")
    page_size = settings.page_size if max_results == 0 else max_results
    if page_token:
        after = _decode_page_token(page_token)
    elif settings.empty_first_page and page_size is not None:
        return [], _page_token("")
    else:
        after = None
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    if page_size is None or len(ordered) <= page_size:
        return ordered, None
    page = ordered[:page_size]
    return page, _page_token(key(page[-1]))


def _page_token(after: str) -> str:
    """Return an opaque token for "the items after ``after``" (``""``: from the start)."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _decode_page_token(token: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise invalid_parameter(f"Invalid page_token: {token}") from exc
    if not isinstance(after, str):
        raise invalid_parameter(f"Invalid page_token: {token}")
    return after


@dataclass
class WorkspaceSettings:
    """Behaviour knobs a test can change at run time (``/__emulator/config``)."""

    error_code_style: ErrorCodeStyle = "specific"
    page_size: int | None = None
    empty_first_page: bool = False



class WorkspaceBase:
    """The model every part reads and writes, guarded by one re-entrant lock (see :mod:`dev.emulator.state`)."""

    public_url: str
    state_file: Path | None
    settings: WorkspaceSettings
    _lock: threading.RLock
    metastore: Metastore
    tables: dict[str, Table]
    recipients: dict[str, Recipient]
    shares: dict[str, Share]
    grants: dict[str, dict[str, list[str]]]  # share -> recipient -> privileges
    # (catalog, schema) -> its tables' full names: schema checks and listings without a scan of all tables.
    _schemas: dict[tuple[str, str], set[str]]
    _store: StateStore | None

    def _record(self, *changes: Change) -> None:
        """Journal ``changes`` (call under the lock, after the change and before answering)."""
        raise NotImplementedError

    def _not_found(self, kind: str, message: str) -> ApiError:
        return does_not_exist(kind, message, style=self.settings.error_code_style)

    def _exists(self, kind: str, message: str) -> ApiError:
        return already_exists(kind, message, style=self.settings.error_code_style)

    def _grants_change(self, share_name: str) -> Change:
        return Change("grants", share_name, self.grants.get(share_name))
