"""Recorded contract of the Pipelines API rows of dev/emulator/README.md, through databricks-sdk."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl


def test_a_missing_pipeline_is_404_resource_does_not_exist(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    with pytest.raises(NotFound) as missing:
        workspace_client.pipelines.get("0000-no-such-pipeline")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    [logged] = emulator.requests(method="GET", path_contains="/api/2.0/pipelines/")
    assert logged["status"] == 404


@pytest.mark.parametrize(("max_results", "status"), [(100, 200), (101, 400)])
def test_list_pipelines_pages_hold_at_most_100(emulator: EmulatorControl, max_results: int, status: int) -> None:
    reply = requests.get(f"{emulator.url}/api/2.0/pipelines", params={"max_results": max_results}, timeout=10,
                         headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert reply.status_code == status


def test_the_like_filter_returns_every_case_and_the_product_compares_exactly(
    workspace_client: WorkspaceClient,
) -> None:
    for name in ("Orders", "orders"):
        workspace_client.pipelines.create(name=name, catalog="sales", schema="shared", serverless=True)
    listed = sorted(s.name or "" for s in workspace_client.pipelines.list_pipelines(filter="name LIKE 'orders'"))
    assert listed == ["Orders", "orders"]  # the case rule is unsettled: the emulator answers the superset
