"""The Graph emulator, started once per session and reset per test, and a Graph client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from dev.graph_emulator.control import GraphEmulatorControl
from dev.graph_emulator.server import RunningGraphEmulator, start_graph_emulator
from shared.graph.auth import LoopbackTokenProvider
from shared.graph.client import GraphClient, RetryPolicy

GRAPH_TENANT = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="session")
def running_graph_emulator() -> Iterator[RunningGraphEmulator]:
    """One Graph emulator for the whole session."""
    with start_graph_emulator() as running:
        yield running


@pytest.fixture
def graph(running_graph_emulator: RunningGraphEmulator) -> GraphEmulatorControl:
    """The hooks of a freshly reset Graph emulator (no users, groups, faults or logged requests)."""
    control = GraphEmulatorControl(running_graph_emulator.url)
    control.reset()
    return control


def make_graph_client(url: str, *, max_attempts: int = 4, max_wait_seconds: float = 5.0) -> GraphClient:
    """A real Graph client with the emulator's development credentials and short retry waits."""
    tokens = LoopbackTokenProvider(url, GRAPH_TENANT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    retry = RetryPolicy(max_attempts=max_attempts, max_wait_seconds=max_wait_seconds, backoff_base_seconds=0.05,
                        request_timeout_seconds=10)
    return GraphClient(url, tokens, retry=retry)


@pytest.fixture
def graph_client(graph: GraphEmulatorControl) -> GraphClient:
    """A Graph client for the reset emulator."""
    return make_graph_client(graph.url)
