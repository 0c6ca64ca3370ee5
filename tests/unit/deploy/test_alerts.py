"""deploy/alerts.yml: valid Prometheus rules (`promtool check rules`) that fire when they should and stay
quiet just below their thresholds (`promtool test rules deploy/alerts.test.yml`).

promtool comes from Debian's `prometheus` package, which `make install` installs where apt-get can run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (Debian package `prometheus`; `make install` installs it as root)",
)
REQUIRED_ALERTS = {
    "SharePackProvisioningFailed",
    "SharePackApiErrorRateHigh",
    "SharePackQueueBacklog",
    "SharePackQueueOldestMessageTooOld",
    "SharePackDatabaseUnreachable",
    "SharePackPoisonMessages",
    "SharePackStuckInProgress",
    "SharePackSyncJobFailing",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=DEPLOY, check=False, timeout=120)


@needs_promtool
def test_rules_pass_promtool_check():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rules_fire_above_and_stay_quiet_below_their_thresholds():
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_of_the_issue_exists_and_is_unit_tested():
    rules = YAML(typ="safe").load((DEPLOY / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert alerts >= REQUIRED_ALERTS
    tests = YAML(typ="safe").load((DEPLOY / "alerts.test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == alerts
