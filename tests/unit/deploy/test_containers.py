"""The container files: both Dockerfiles parse and follow the rules; the compose file is valid.

No Docker engine runs on our machines, so these check the files themselves: `docker-compose config`
validates the compose file, and dockerfile-parse reads the Dockerfiles.
"""

from __future__ import annotations

import os
import re
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


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the image that ships: from the last FROM on (earlier stages only build files)."""
    last_from = max(i for i, (kind, _) in enumerate(steps) if kind == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize(
    ("dockerfile", "package", "command"),
    [("Dockerfile.api", "api/", "gunicorn"), ("Dockerfile.worker", "worker/", "worker")],
)
def test_dockerfile_is_slim_non_root_and_runs_one_process(dockerfile, package, command):
    steps = final_stage(instructions(dockerfile))
    kinds = [kind for kind, _ in steps]
    assert steps[0] == ("FROM", "${BASE_IMAGE}")
    assert kinds.count("CMD") == 1 and command in dict(steps)["CMD"]
    assert any(kind == "COPY" and value.startswith(package) for kind, value in steps)
    assert any(kind == "COPY" and value.startswith("shared/") for kind, value in steps)
    # Development tooling never ships: nothing of dev/ (the emulators, make run's stack), no tests, no dev extra.
    assert not any(kind == "COPY" and value.startswith(("dev/", "tests")) for kind, value in steps)
    assert not any("[dev]" in value for _, value in steps)
    user_index = kinds.index("USER")
    assert steps[user_index][1] not in ("root", "0") and user_index > kinds.index("RUN")


needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
SECRETS = {
    "API_KEYS": "ops=test-key",
    "POSTGRES_PASSWORD": "test-password",
    "ACTIVATION_LINK_KEYS": "x8Yh0VQxkqzC6c4Zb3V2F6b3f8VqUQm7Zq2cJrJ0l3E=",
    "CONSOLE_SECRET_KEY": "0123456789abcdef0123456789abcdef",
    # Not secrets, but settings a process requires (shared/platform/settings_contract.py): no default either.
    "ALLOWED_WORKSPACE_URLS": "https://adb-1234567890123456.7.azuredatabricks.net",
    "DATABRICKS_TOKEN": "dapi-test",
    "SMTP_HOST": "smtp.example.com",
    "NOTIFICATION_FROM": "sharepack@example.com",
    "OPERATOR_EMAILS": "ops@example.com",
    "CONSOLE_BASE_URL": "https://sharepack.example.com",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001",
    "GRAPH_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
    "GRAPH_CLIENT_SECRET": "graph-secret",
}


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly `env` set (no developer `.env`, no inherited secrets)."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and k.upper() not in SECRETS}
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, cwd=ROOT, check=False, env={**clean, **env},
    )


@needs_compose
def test_compose_file_is_valid_and_has_the_whole_stack(tmp_path):
    result = compose_config(tmp_path, SECRETS)
    assert result.returncode == 0, result.stderr
    config = YAML(typ="safe").load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "azurite", "migrate", "api", "worker", "sync"}
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    for name in ("api", "worker", "sync"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile.worker"
    assert "/workflow/health/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["environment"]["API_KEYS"] == SECRETS["API_KEYS"]
    # Every API replica signs console sessions with the one key, and the API refuses to start without it.
    assert services["api"]["environment"]["CONSOLE_SECRET_KEY"] == SECRETS["CONSOLE_SECRET_KEY"]
    assert services["api"]["environment"]["DEPLOYMENT"] == "production"
    assert "CONSOLE_SECRET_KEY" not in services["worker"]["environment"]  # each process gets only its secrets
    assert services["sync"]["build"]["dockerfile"] == "Dockerfile.worker"
    assert services["sync"]["command"] == ["python", "-m", "sync"]


@needs_compose
@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_has_no_default_secrets(tmp_path, missing):
    result = compose_config(tmp_path, {k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile.api", "Dockerfile.worker"])
def test_images_are_pinned_by_digest_and_have_a_healthcheck(dockerfile):
    """The base is a build argument (`make images` passes a local one where no registry answers) whose
    default is the published image pinned by digest; every stage starts from it."""
    steps = instructions(dockerfile)
    [default] = [value.split("=", 1)[1] for kind, value in steps if kind == "ARG" and value.startswith("BASE_IMAGE=")]
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*@sha256:[0-9a-f]{64}", default)
    assert {value.split(" AS ")[0] for kind, value in steps if kind == "FROM"} == {"${BASE_IMAGE}"}
    healthchecks = [value for kind, value in steps if kind == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "CMD" in healthchecks[0]


@pytest.mark.parametrize("dockerfile", ["Dockerfile.api", "Dockerfile.worker"])
def test_images_install_only_the_hash_locked_wheelhouse(dockerfile):
    """Offline and reproducible: pip reads no index, only requirements.lock's wheels, each checked by hash."""
    installs = [value for kind, value in instructions(dockerfile) if kind == "RUN" and "pip install" in value]
    assert installs and all(
        {"--no-index", "--require-hashes", "-r /tmp/requirements.lock"} <= set(re.findall(r"--[\w-]+|-r \S+", i))
        for i in installs
    ), installs
    # The wheelhouse and pip stay in the build stage: the image gets the finished virtualenv.
    copies = [value for kind, value in final_stage(instructions(dockerfile)) if kind == "COPY"]
    assert "--from=venv /opt/venv /opt/venv" in copies
    assert not any("wheels" in value for value in copies)


def test_api_image_listens_on_all_interfaces_itself():
    env = " ".join(value for kind, value in instructions("Dockerfile.api") if kind == "ENV")
    assert "GUNICORN_BIND=0.0.0.0:8000" in env


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv", ".local", "tests", "node_modules"} <= ignored


def test_api_image_ships_swagger_ui_where_api_docs_reads_it():
    """No image can be pulled here, so no node stage: deploy/images/build.sh copies the files npm installed
    (from package-lock.json, integrity-checked) into build/images/swagger-ui-dist, and the image COPYs them."""
    from api.docs import SWAGGER_UI_DIR, SWAGGER_UI_FILES

    steps = final_stage(instructions("Dockerfile.api"))
    workdir = next(value for kind, value in steps if kind == "WORKDIR")
    [copy] = [value.split() for kind, value in steps if kind == "COPY" and "swagger-ui-dist" in value]
    source, target = copy
    assert source == "build/images/swagger-ui-dist/"
    script = (ROOT / "deploy/images/build.sh").read_text()
    copied = re.search(r'cp "\$swagger"/\{([^}]*)\}', script)
    assert copied and set(copied[1].split(",")) >= SWAGGER_UI_FILES
    assert Path(workdir, target) == Path("/app") / SWAGGER_UI_DIR.relative_to(ROOT)
