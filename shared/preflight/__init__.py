"""Pre-flight validation: check a share pack against its workspace, read-only, before it is accepted."""

from shared.preflight.checks import CatalogFacts, check_pack
from shared.preflight.run import CatalogReader, PreflightReport, preflight, preflight_within

__all__ = ["CatalogFacts", "CatalogReader", "PreflightReport", "check_pack", "preflight", "preflight_within"]
