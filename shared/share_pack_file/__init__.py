"""Share packs: the YAML and Excel files requestors write, read into one validated canonical model."""

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
from shared.share_pack_file.parse import DEFAULT_MAX_BYTES, ParsedSharePack, parse_share_pack
from shared.share_pack_file.write import to_excel, to_yaml

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
