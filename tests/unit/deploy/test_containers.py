"""The container files: both Dockerfiles parse and follow the rules; the compose file is valid.

No Docker engine runs on our machines, so these check the files themselves: `docker-compose config`
validates the compose file, and dockerfile-parse reads the Dockerfiles.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[3]


def instructions(name: str) -> list[tuple[str, str]]:
    parser = DockerfileParser(fileobj=(ROOT / name).open("rb"))
    return [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]


@pytest.mark.parametrize(
    ("dockerfile", "package", "command"),
    [("Dockerfile.api", "api/", "gunicorn"), ("Dockerfile.worker", "worker/", "worker")],
)
def test_dockerfile_is_slim_non_root_and_runs_one_process(dockerfile, package, command):
    steps = instructions(dockerfile)
    kinds = [kind for kind, _ in steps]
    assert steps[0][0] == "FROM" and "slim" in steps[0][1]
    assert kinds.count("CMD") == 1 and command in dict(steps)["CMD"]
    assert any(kind == "COPY" and value.startswith(package) for kind, value in steps)
    assert any(kind == "COPY" and value.startswith("shared/") for kind, value in steps)
    # Development tooling never ships: no emulator, no tests, no dev extra.
    assert not any(kind == "COPY" and value.startswith(("emulator", "tests", "devstack")) for kind, value in steps)
    assert not any("[dev]" in value for _, value in steps)
    user_index = kinds.index("USER")
    assert steps[user_index][1] not in ("root", "0") and user_index > kinds.index("RUN")


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_is_valid_and_has_the_whole_stack(tmp_path):
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    config = YAML(typ="safe").load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "azurite", "migrate", "api", "worker", "sync"}
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    for name in ("api", "worker", "sync"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile.worker"
    assert services["sync"]["build"]["dockerfile"] == "Dockerfile.worker"
    assert services["sync"]["command"] == ["python", "-m", "sync"]
