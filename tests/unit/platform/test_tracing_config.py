"""Tracing's export choice: Azure Monitor when its connection string is set, otherwise no exporter.

Each case runs in a child process: OpenTelemetry allows one tracer provider per process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
from shared.platform import tracing
from shared.platform.settings import Settings
provider = tracing.configure(Settings.from_env(dotenv_path=None), "probe")
exporters = sorted({type(getattr(p, "span_exporter", None)).__name__
                    for p in provider._active_span_processor._span_processors})
print(provider.resource.attributes["service.name"], exporters)
"""


def probe(tmp: Path, **env: str) -> str:
    # TMPDIR: the exporter keeps spans it could not send under the temporary directory, so in the test's own.
    base = {"PATH": "/usr/bin:/bin", "DOMAIN_DB_CONNECTION_STRING": "postgresql://u@127.0.0.1:1/db",
            "TMPDIR": str(tmp)}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_without_a_connection_string_spans_are_not_exported(tmp_path: Path) -> None:
    assert probe(tmp_path) == "probe []"


def test_a_connection_string_exports_to_azure_monitor(tmp_path: Path) -> None:
    # Configured only: the ingestion endpoint is a closed loopback port and nothing is sent within the test.
    connection = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                  "IngestionEndpoint=http://127.0.0.1:9/")
    # Statsbeat (the SDK's own usage telemetry to Microsoft) is off: no network beyond loopback in tests.
    service, exporters = probe(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=connection,
                               APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true").split(" ", 1)
    assert service == "probe" and "'MaskingSpanExporter'" in exporters
