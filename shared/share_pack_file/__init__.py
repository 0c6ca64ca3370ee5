"""Share packs: the YAML and Excel files requestors write, read into one validated canonical model.

The model (`SharePackSpec` and its parts), its issues and limits are what every process needs; the readers,
the validation and the writers only the processes that take or make files (the API, the CLI). Those are
imported on first use (PEP 562), so the worker, which only reads stored packs, never loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shared.share_pack_file.issues import Issue
from shared.share_pack_file.limits import FormatLimits
from shared.share_pack_file.model import (
    DataObjectSpec,
    DataObjectType,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
)

if TYPE_CHECKING:
    from shared.share_pack_file.parse import DEFAULT_MAX_BYTES, ParsedSharePack, parse_share_pack
    from shared.share_pack_file.write import to_excel, to_yaml

#: The names of the file-handling modules, by the module that defines them.
_ON_FIRST_USE = {
    "DEFAULT_MAX_BYTES": "parse",
    "ParsedSharePack": "parse",
    "parse_share_pack": "parse",
    "to_excel": "write",
    "to_yaml": "write",
}


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DataObjectSpec",
    "DataObjectType",
    "FormatLimits",
    "Issue",
    "Metadata",
    "ParsedSharePack",
    "RecipientSpec",
    "RecipientType",
    "SharePackSpec",
    "ShareSpec",
    "Strategy",
    "parse_share_pack",
    "to_excel",
    "to_yaml",
]
