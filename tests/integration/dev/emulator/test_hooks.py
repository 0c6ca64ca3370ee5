"""Test hooks: request log, faults, latency, concurrency and persistence across restarts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import NotFound, PermissionDenied, TooManyRequests
from databricks.sdk.service.sharing import AuthenticationType, PermissionsChange

from dev.emulator.control import EmulatorControl, EmulatorControlError
from dev.emulator.server import start_emulator
from tests.integration.dev.emulator.helpers import add


def _client(url: str, *, retry_timeout_seconds: int = 10) -> WorkspaceClient:
    return WorkspaceClient(
        config=Config(host=url, token="local-dev-token", auth_type="pat", retry_timeout_seconds=retry_timeout_seconds)
    )


def test_request_log_records_calls_without_credentials(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    workspace_client.shares.create(name="sales", comment="c")
    with pytest.raises(NotFound):
        workspace_client.shares.get("nope", include_shared_data=True)

    create, get = emulator.requests(path_contains="/shares")

    assert (create["method"], create["path"], create["body"], create["status"]) == (
        "POST",
        "/api/2.1/unity-catalog/shares",
        {"name": "sales", "comment": "c"},
        200,
    )
    assert (get["query"], get["status"], get["error_code"]) == (
        {"include_shared_data": "true"},
        404,
        "SHARE_DOES_NOT_EXIST",
    )
    assert create["principal"] == "provisioner@example.com"
    assert create["started_at"] <= create["ended_at"]
    assert create["headers"]["authorization"] == "<redacted>"
    assert "local-dev-token" not in str(emulator.requests())
    assert [e["method"] for e in emulator.requests(method="post")] == ["POST"]
    emulator.clear_requests()
    assert emulator.requests() == []


def test_injected_fault_hits_the_next_n_matching_requests(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    workspace_client.shares.create(name="sales")
    emulator.inject_fault(
        method="GET",
        path_regex=r"/shares/sales$",
        status=403,
        error_code="PERMISSION_DENIED",
        message="User does not have USE_SHARE",
        times=2,
    )

    for _ in range(2):
        with pytest.raises(PermissionDenied) as excinfo:
            workspace_client.shares.get("sales")
        assert str(excinfo.value).startswith("User does not have USE_SHARE")
    assert workspace_client.shares.get("sales").name == "sales"
    assert [f["hits"] for f in emulator.faults()] == [2]


def test_throttling_with_retry_after_is_retried_until_it_clears(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.inject_fault(path_regex="/shares", status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after=0, times=2)

    workspace_client.shares.create(name="sales")

    assert [e["status"] for e in emulator.requests(path_contains="/shares")] == [429, 429, 200]


def test_persistent_throttling_surfaces_as_timeout_error(emulator: EmulatorControl) -> None:
    emulator.inject_fault(path_regex="/shares", status=429, retry_after=0, times=None, message="slow down")
    client = _client(emulator.url, retry_timeout_seconds=2)

    with pytest.raises(TimeoutError) as excinfo:
        client.shares.create(name="sales")

    assert isinstance(excinfo.value.__cause__, TooManyRequests)
    assert len(emulator.requests(path_contains="/shares")) >= 2


def test_after_phase_fault_applies_the_change_but_loses_the_reply(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.lose_replies(method="POST", path_regex="/recipients$", status=500, error_code="INTERNAL_ERROR")

    with pytest.raises(Exception) as excinfo:
        workspace_client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)

    assert getattr(excinfo.value, "error_code", None) == "INTERNAL_ERROR"
    assert workspace_client.recipients.get("acme").name == "acme"


def test_clear_faults_and_bad_fault_payloads(emulator: EmulatorControl) -> None:
    emulator.inject_fault(status=503, times=None)
    emulator.clear_faults()
    assert emulator.faults() == []
    with pytest.raises(EmulatorControlError):
        emulator.inject_fault(status=999)
    with pytest.raises(EmulatorControlError):
        emulator.inject_fault(status=500, path_regex="(")


def test_latency_is_added_and_concurrent_calls_overlap(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.set_latency(300)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: workspace_client.metastores.current(), range(8)))

    entries = emulator.requests(path_contains="current-metastore-assignment")
    assert len(entries) == 8
    assert all(e["ended_at"] - e["started_at"] >= 0.3 for e in entries)
    # Served in parallel, not one after another: some requests were in flight at the same time. (Not
    # "all eight at once": on a loaded machine the client threads may start more than 300 ms apart.)
    events = sorted([(e["started_at"], 1) for e in entries] + [(e["ended_at"], -1) for e in entries])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak >= 2


def test_reset_restores_the_start_state(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_tables(["sales.reporting.orders"])
    workspace_client.shares.create(name="sales")
    emulator.set_latency(50)
    emulator.inject_fault(status=500, times=None, path_regex="/nothing")

    emulator.reset()

    state = emulator.state()
    assert (state["tables"], state["shares"], state["recipients"], state["grants"]) == ([], [], [], {})
    assert state["config"]["latency_ms"] == 0
    assert emulator.faults() == [] and emulator.requests() == []


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "workspace.json"
    with start_emulator(state_file=state_file, seed_tables=["sales.reporting.orders"]) as first:
        client = _client(first.url)
        client.recipients.create(name="acme", authentication_type=AuthenticationType.TOKEN)
        client.shares.create(name="sales")
        client.shares.update("sales", updates=[add("sales.reporting.orders")])
        client.shares.update_permissions("sales", changes=[PermissionsChange(principal="acme", add=["SELECT"])])
        metastore_id = client.metastores.summary().metastore_id
    assert not list(tmp_path.glob(".workspace.json.*")), "no temp files left behind"

    with start_emulator(state_file=state_file, seed_tables=["sales.reporting.orders", "sales.reporting.new"]) as second:
        client = _client(second.url)
        recipient = client.recipients.get("acme")
        assert recipient.activation_url.startswith(f"{second.url}/delta_sharing/")
        assert [o.name for o in client.shares.get("sales", include_shared_data=True).objects] == [
            "sales.reporting.orders"
        ]
        assert client.shares.share_permissions("sales").privilege_assignments[0].principal == "acme"
        assert client.metastores.summary().metastore_id == metastore_id
        assert client.tables.exists("sales.reporting.new").table_exists is True
