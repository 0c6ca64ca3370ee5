"""What leaves a process configured for Application Insights: envelopes without secrets, logs on stdout only.

The probe (`tests/unit/platform/probe.py`) is configured as production is (a connection string, JSON logs)
and logs a storage connection string, a database URL and a client secret, inside a span that fails with
them in its exception. Its exported spans are turned into envelopes by the exporter's own conversion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.platform.probe import CLIENT_SECRET, CONNECTION_STRING, DATABASE_PASSWORD, STORAGE_KEY

ROOT = Path(__file__).resolve().parents[3]
SECRETS = (STORAGE_KEY, CLIENT_SECRET, DATABASE_PASSWORD)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the probe's log lines, its report: the exporter it found and the envelopes made)."""
    env = {
        # The exporter keeps spans it could not send under the temporary directory: the test's own.
        "TMPDIR": str(tmp_path_factory.mktemp("probe")),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DOMAIN_DB_CONNECTION_STRING": "postgresql://u@127.0.0.1:1/db",
        # Configured only: the ingestion endpoint is a closed loopback port, and the probe swaps the
        # exporter for a recorder before anything is exported.
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                                                 "IngestionEndpoint=http://127.0.0.1:9/",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # the SDK's own usage telemetry to Microsoft
    }
    done = subprocess.run([sys.executable, "-m", "tests.unit.platform.probe"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return lines[:-1], lines[-1]


def test_spans_reach_the_azure_monitor_exporter_through_the_masking_one(probe):
    _, report = probe
    assert report["exporter"] == "AzureMonitorTraceExporter"


def test_no_secret_reaches_an_envelope(probe):
    _, report = probe
    exported = json.dumps(report["envelopes"])
    assert report["envelopes"], "nothing was exported"
    for secret in SECRETS:
        assert secret not in exported
    # The span's exception is still there to read, with its secret masked.
    [exception] = [e["data"]["baseData"]["exceptions"][0] for e in report["envelopes"]
                   if e["name"] == "Microsoft.ApplicationInsights.Exception"]
    assert exception["typeName"] == "ConnectionError"
    assert "postgresql://sharepack:***@db.example.com" in exception["message"]
    assert "AccountKey=***" in exception["stack"]


def test_logs_leave_through_stdout_only_masked_and_carrying_their_trace(probe):
    lines, report = probe
    assert not report["logs_through_opentelemetry"] and report["root_handlers"] == ["StreamHandler"]
    assert not [e for e in report["envelopes"] if e["name"] == "Microsoft.ApplicationInsights.Message"]
    written = json.dumps(lines)
    assert CONNECTION_STRING.split(";")[0] in written  # the lines are there...
    for secret in SECRETS:
        assert secret not in written  # ...masked
    [span] = [e for e in report["envelopes"] if e["data"]["baseData"].get("name") == "sync AD users"]
    in_span = [line for line in lines if line.get("logger") in ("probe", "azure.probe", "sqlalchemy.probe")]
    assert len(in_span) == 5
    assert {line["trace_id"] for line in in_span} == {span["tags"]["ai.operation.id"]}
    assert {line["span_id"] for line in in_span} == {span["data"]["baseData"]["id"]}
