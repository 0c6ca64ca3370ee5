"""deploy/azure: the Terraform passes checkov with no failed check, is `terraform fmt` clean, and has the
shape the deployment guide promises (worker scaled 0..N by KEDA's azure-queue scaler, API with at least
two replicas behind ingress, one sync replica, a migration job, private PostgreSQL with TLS).

checkov runs from its own virtualenv (`make install` creates `.venv/checkov`: checkov pins packaging<24,
which pytest 9 cannot use); its python-hcl2 also parses the files for the shape checks. `terraform` is not
packaged on PyPI, npm or Debian, so the fmt check runs only where a terraform binary is on PATH, and
`terraform validate` (it downloads the azurerm provider from the Terraform registry) is not run here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
AZURE = ROOT / "deploy" / "azure"
CHECKOV_PYTHON = ROOT / ".venv" / "checkov" / "bin" / "python"
needs_checkov = pytest.mark.skipif(
    not CHECKOV_PYTHON.exists(), reason="checkov is not installed (`make install` puts it in .venv/checkov)"
)


# Each skip is justified in a comment on the resource; a new one must be added here on purpose.
SKIPS = {
    ("CKV2_AZURE_40", "azurerm_storage_account.main"),  # shared key: the queue connection string needs it
    ("CKV2_AZURE_1", "azurerm_storage_account.main"),  # customer-managed key for a queue of ids
    ("CKV2_AZURE_38", "azurerm_storage_account.main"),  # blob soft delete on a queue-only account
    ("CKV2_AZURE_32", "azurerm_key_vault.main"),  # vault reached by service endpoint + ACLs
    ("CKV2_AZURE_57", "azurerm_postgresql_flexible_server.main"),  # private access by VNet integration
}


def checkov(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECKOV_PYTHON), "-m", "checkov.main", "-d", str(AZURE), "--framework", "terraform",
         "--skip-download", *args],
        capture_output=True, text=True, check=False, timeout=300,
    )


def hcl_blocks(key: str) -> list[dict[str, Any]]:
    """Every top-level `key` block (resource, locals...) of deploy/azure (python-hcl2, as checkov parses it)."""
    script = (
        "import hcl2, json, pathlib, sys\n"
        "paths = sorted(pathlib.Path(sys.argv[1]).glob('*.tf'))\n"
        "print(json.dumps([block for path in paths for block in hcl2.load(path.open()).get(sys.argv[2], [])]))\n"
    )
    result = subprocess.run([str(CHECKOV_PYTHON), "-c", script, str(AZURE), key],
                            capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


@cache
def parsed() -> dict[str, dict[str, Any]]:
    """Every resource block of deploy/azure as {type: {name: body}}."""
    out: dict[str, dict[str, Any]] = {}
    for block in hcl_blocks("resource"):
        for kind, named in block.items():
            out.setdefault(kind, {}).update(named)
    return out


@cache
def parsed_locals() -> dict[str, Any]:
    """Every `locals` value of deploy/azure, merged."""
    return {name: value for block in hcl_blocks("locals") for name, value in block.items()}


def one(value: list[Any]) -> Any:
    """python-hcl2 wraps every attribute and block in a list."""
    assert len(value) == 1
    return value[0]


@needs_checkov
def test_checkov_finds_no_failed_check_and_every_skip_says_why():
    result = checkov("-o", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["failed"] == 0 and summary["passed"] > 30 and summary["skipped"] == len(SKIPS)
    skipped = {(s["check_id"], s["resource"]) for s in report["results"]["skipped_checks"]}
    assert skipped == SKIPS
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 40, check["check_id"]


@pytest.mark.skipif(shutil.which("terraform") is None,
                    reason="no terraform binary: it is not packaged on PyPI, npm or Debian")
def test_terraform_fmt_is_clean():
    result = subprocess.run(["terraform", "fmt", "-check", "-diff", "-recursive", str(AZURE)],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_checkov
def test_worker_scales_on_the_queue_length_with_keda_and_one_always_runs():
    # One replica stays: the outbox relay and the stuck-pack sweeper have no queued message to wake a worker.
    template = one(parsed()["azurerm_container_app"]["worker"]["template"])
    assert one(template["min_replicas"]) == 1
    assert one(template["max_replicas"]) == "${var.worker_max_replicas}"
    rule = one(template["custom_scale_rule"])
    assert one(rule["custom_rule_type"]) == "azure-queue"
    metadata = one(rule["metadata"])
    assert metadata["queueName"] == "${var.azure_queue_name}"
    assert set(metadata) == {"accountName", "queueName", "queueLength"}
    assert one(one(rule["authentication"])["trigger_parameter"]) == "connection"


@needs_checkov
def test_api_has_ingress_and_two_replicas_sync_one_and_migrations_a_job():
    apps = parsed()["azurerm_container_app"]
    api = apps["api"]
    assert one(one(api["ingress"])["external_enabled"]) is True
    assert one(one(api["ingress"])["allow_insecure_connections"]) is False
    assert one(one(api["template"])["min_replicas"]) == "${var.api_min_replicas}"
    container = one(one(api["template"])["container"])
    assert one(one(container["readiness_probe"])["path"]) == "/workflow/health/ready"
    assert one(one(container["liveness_probe"])["path"]) == "/workflow/health/live"
    sync = one(apps["sync"]["template"])
    assert (one(sync["min_replicas"]), one(sync["max_replicas"])) == (1, 1)
    job = parsed()["azurerm_container_app_job"]["migrate"]
    assert one(one(one(job["template"])["container"])["command"]) == ["alembic", "upgrade", "head"]
    assert "manual_trigger_config" in job


@needs_checkov
def test_postgres_is_private_with_tls_required_and_secrets_come_from_key_vault():
    resources = parsed()
    server = resources["azurerm_postgresql_flexible_server"]["main"]
    assert one(server["public_network_access_enabled"]) is False
    assert "delegated_subnet_id" in server
    tls = resources["azurerm_postgresql_flexible_server_configuration"]["require_tls"]
    assert (one(tls["name"]), one(tls["value"])) == ("require_secure_transport", "on")
    assert one(resources["azurerm_key_vault"]["main"]["rbac_authorization_enabled"]) is True
    for name in ("api", "worker", "sync"):
        secrets = one(resources["azurerm_container_app"][name]["dynamic"])["secret"]
        content = one(secrets["content"])
        assert "key_vault_secret_id" in content and "identity" in content


@needs_checkov
def test_every_prometheus_alert_has_an_azure_monitor_rule():
    from ruamel.yaml import YAML

    rules = YAML(typ="safe").load((ROOT / "deploy" / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]} - {"SharePackMetricsMissing"}
    text = "\n".join(path.read_text() for path in AZURE.glob("*.tf"))
    missing = {alert for alert in alerts if f"({alert})" not in text}
    assert not missing, f"no Azure Monitor rule names {missing}"



@needs_checkov
def test_the_api_gets_a_generated_console_key_from_key_vault_and_runs_as_production():
    values = {name: one(parsed_locals()[name]) for name in ("common_env", "app_secret_env", "secrets")}
    assert values["common_env"]["DEPLOYMENT"] == "production"
    assert values["app_secret_env"]["api"]["CONSOLE_SECRET_KEY"] == "console-secret-key"
    assert values["secrets"]["console-secret-key"] == "${random_password.console_secret_key.result}"
    readers = {app for app, env in values["app_secret_env"].items() if "console-secret-key" in env.values()}
    assert readers == {"api"}  # only the API signs console sessions
    assert one(parsed()["random_password"]["console_secret_key"]["length"]) >= 32
