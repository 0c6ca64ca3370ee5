"""Share packs: the YAML and Excel files requestors write, read into one validated canonical model."""

from shared.sharepack.issues import Issue
from shared.sharepack.model import (
    DataObject,
    DataObjectType,
    Metadata,
    Recipient,
    RecipientType,
    Share,
    SharePack,
    Strategy,
)
from shared.sharepack.parse import DEFAULT_MAX_BYTES, ParsedSharePack, parse_share_pack
from shared.sharepack.write import to_excel, to_yaml

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DataObject",
    "DataObjectType",
    "Issue",
    "Metadata",
    "ParsedSharePack",
    "Recipient",
    "RecipientType",
    "Share",
    "SharePack",
    "Strategy",
    "parse_share_pack",
    "to_excel",
    "to_yaml",
]
