"""Pre-flight validation: check a share pack against its workspace, read-only, before it is accepted."""

from shared.preflight.checks import CatalogFacts, check_pack
from shared.preflight.run import (
    CatalogReader,
    PreflightReport,
    WorkspaceUnreadable,
    preflight,
    preflight_within,
    read_within,
)

__all__ = [
    "CatalogFacts",
    "CatalogReader",
    "PreflightReport",
    "WorkspaceUnreadable",
    "check_pack",
    "preflight",
    "preflight_within",
    "read_within",
]
