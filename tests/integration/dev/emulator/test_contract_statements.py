"""Recorded contract of the SQL Statement Execution rows of dev/emulator/README.md, through databricks-sdk.

The failure texts are Spark's error conditions as a real warehouse reports them (the unbound parameter one is
recorded in databricks/databricks-sql-python#466 and databricks/databricks-sql-nodejs#218).
"""

from __future__ import annotations

from datetime import date

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest
from databricks.sdk.service.sql import StatementParameterListItem, StatementResponse, StatementState

from dev.emulator.control import EmulatorControl
from shared.use_cases.pipeline_runs import COST_SQL
from tests.integration.provisioning.test_pipeline_runs import PRICES, usage


def _run(client: WorkspaceClient, text: str, **parameters: tuple[str | None, str]) -> StatementResponse:
    return client.statement_execution.execute_statement(
        statement=text, warehouse_id="wh-1", wait_timeout="30s",
        parameters=[StatementParameterListItem(name=n, value=v, type=t) for n, (v, t) in parameters.items()],
    )


def test_a_marker_without_a_parameter_fails_the_statement_unbound(workspace_client: WorkspaceClient) -> None:
    response = _run(workspace_client, COST_SQL)  # the product's statement, its :since left unbound
    assert response.status is not None and response.status.state is StatementState.FAILED
    assert response.status.error is not None and response.status.error.message is not None
    assert response.status.error.message.startswith("[UNBOUND_SQL_PARAMETER] Found the unbound parameter: since.")
    assert response.status.sql_state == "42P02"


def test_a_value_its_type_cannot_hold_fails_the_cast(workspace_client: WorkspaceClient) -> None:
    response = _run(workspace_client, COST_SQL, since=("30 days ago", "DATE"))
    assert response.status is not None and response.status.state is StatementState.FAILED
    assert response.status.error is not None and "[CAST_INVALID_INPUT]" in str(response.status.error.message)
    assert response.status.sql_state == "22018"


def test_markers_inside_literals_and_comments_are_text(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    emulator.seed_billing(usage=[usage("reporting", "2026-11-03", "4")], list_prices=PRICES)
    text = COST_SQL.replace("GROUP BY ALL", "AND ':not_a_marker' <> '' -- :nor_this\nGROUP BY ALL")
    response = _run(workspace_client, text, since=("2026-11-01", "DATE"))
    assert response.status is not None and response.status.state is StatementState.SUCCEEDED


def test_the_bound_window_is_applied(workspace_client: WorkspaceClient, emulator: EmulatorControl) -> None:
    emulator.seed_billing(usage=[usage("reporting", "2026-10-30", "10"), usage("reporting", "2026-11-03", "4")],
                          list_prices=PRICES)
    inside = _run(workspace_client, COST_SQL, since=(date(2026, 11, 1).isoformat(), "DATE"))
    assert inside.result is not None and [row[1] for row in inside.result.data_array or ()] == ["2026-11-03"]
    everything = _run(workspace_client, COST_SQL, since=("2026-10-01", "DATE"))
    assert everything.result is not None and len(everything.result.data_array or ()) == 2
    null = _run(workspace_client, COST_SQL, since=(None, "DATE"))  # a comparison with NULL is never true
    assert null.status is not None and null.status.state is StatementState.SUCCEEDED
    assert null.result is not None and not null.result.data_array


def test_an_execution_failure_is_http_200_and_a_malformed_request_is_400(
    workspace_client: WorkspaceClient, emulator: EmulatorControl
) -> None:
    _run(workspace_client, "SELECT :x")
    [logged] = emulator.requests(method="POST", path_contains="/api/2.0/sql/statements")
    assert logged["status"] == 200
    with pytest.raises(BadRequest, match="wait_timeout"):
        workspace_client.statement_execution.execute_statement(statement="SELECT 1", warehouse_id="wh-1",
                                                               wait_timeout="60s")
