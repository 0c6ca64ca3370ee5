"""Build the Graph client a process uses from its settings (None when Graph is not configured)."""

from __future__ import annotations

from shared.graph.auth import build_token_provider
from shared.graph.client import GraphClient
from shared.platform.settings import Settings


def graph_client_from_settings(settings: Settings) -> GraphClient | None:
    """One client per process (azure-identity caches tokens per credential instance)."""
    if not settings.graph_configured:
        return None
    assert settings.azure_tenant_id is not None
    tokens = build_token_provider(
        authority_host=settings.graph_authority_host,
        tenant_id=settings.azure_tenant_id,
        client_id=settings.graph_client_id,
        client_secret=settings.graph_client_secret,
    )
    return GraphClient(settings.graph_base_url, tokens)
