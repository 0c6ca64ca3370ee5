"""Pre-flight validation: check a share pack against its workspace, read-only, before it is accepted."""

from shared.preflight.cache import CachedCatalogReader, CachedReaders, ReadCache
from shared.preflight.checks import CatalogFacts, check_pack
from shared.preflight.in_flight import wait_for_background_reads
from shared.preflight.run import (
    CatalogReader,
    PreflightReport,
    WorkspaceUnreadable,
    preflight,
    preflight_within,
    read_within,
)

__all__ = [
    "CachedCatalogReader",
    "CachedReaders",
    "CatalogFacts",
    "CatalogReader",
    "PreflightReport",
    "ReadCache",
    "WorkspaceUnreadable",
    "check_pack",
    "preflight",
    "preflight_within",
    "read_within",
    "wait_for_background_reads",
]
