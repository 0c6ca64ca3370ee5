"""Terraform, docker-compose and the Azure guide give each process what its settings contract requires.

`shared/platform/settings_contract.py` declares, per process, the settings it requires and the ones it reads. Here
each deployment is read as it is written (Terraform's `app_env` / `app_secret_env` locals and the container
apps' env and secret blocks, compose's services, the guide's table) and held to that declaration: a
required setting missing from an app, a setting an app is given but never reads (a typo, or a setting that
breaks it, like QUEUE_BACKEND without its connection string), a secret the app's identity may not read.
Each check is also run on a copy with one required setting removed, and must then fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from shared.platform.credentials import DatabricksCredentials
from shared.platform.settings import Settings
from shared.platform.settings_contract import GUNICORN_VARIABLES, PROCESS_SETTINGS
from tests.support.hcl import load_hcl

ROOT = Path(__file__).resolve().parents[3]
AZURE = ROOT / "deploy" / "azure"
COMPOSE = ROOT / "docker-compose.yml"
GUIDE = ROOT / "docs" / "deploy-azure.md"
APPS = ("api", "worker", "sync", "migrate")
COMPOSE_SERVICES = {"api": "api", "worker": "worker", "sync": "sync", "migrate": "migrate"}


def unquote(value: Any) -> Any:
    """python-hcl2 keeps a literal string's quotes: '"x"' is the string x, '${...}' an expression."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_tf(directory: Path) -> list[dict[str, Any]]:
    return [load_hcl(path) for path in sorted(directory.glob("*.tf"))]


def tf_locals(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: value for parsed in files for block in parsed.get("locals", []) for name, value in block.items()}


def resolve(value: Any, local: dict[str, Any]) -> Any:
    """Evaluate what these files use to build env maps: literal maps, `local.x`, `local.x["k"]`, merge(...)."""
    if isinstance(value, dict):
        return {unquote(k): v for k, v in value.items() if k != "__is_block__"}
    if not isinstance(value, str):
        raise AssertionError(f"cannot evaluate {value!r}")
    expression = value.removeprefix("${").removesuffix("}") if value.startswith("${") else value
    if merge := re.fullmatch(r"merge\((.*)\)", expression):
        merged: dict[str, Any] = {}
        for part in merge.group(1).split(","):
            merged.update(resolve(part.strip(), local))
        return merged
    if ref := re.fullmatch(r'local\.(\w+)(?:\["(\w+)"\])?', expression):
        resolved = resolve(local[ref.group(1)], local)
        return resolve(resolved[ref.group(2)], local) if ref.group(2) else resolved
    raise AssertionError(f"cannot evaluate {value!r}: build env maps from literal maps, local.x and merge()")


def tf_resources(files: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(unquote(kind), unquote(name)): body
            for parsed in files for block in parsed.get("resource", [])
            for kind, named in block.items() for name, body in named.items()}


def dynamic_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [inner for block in body.get("dynamic", []) for label, inner in block.items() if unquote(label) == name]


def app_resources(files: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    resources = tf_resources(files)
    apps = {app: resources[("azurerm_container_app", app)] for app in APPS if app != "migrate"}
    apps["migrate"] = resources[("azurerm_container_app_job", "migrate")]
    return apps


def terraform_settings(directory: Path) -> tuple[dict[str, dict[str, str | None]], list[str]]:
    """Per app: {variable: Key Vault secret or None}, as its container gets it; and what is wired wrongly."""
    files = load_tf(directory)
    local = tf_locals(files)
    secrets = set(resolve(local["secrets"], local))
    problems: list[str] = []
    given: dict[str, dict[str, str | None]] = {}
    for app, body in app_resources(files).items():
        [container] = body["template"][0]["container"]
        env: dict[str, str | None] = {unquote(e["name"]): None for e in container.get("env", [])}
        for block in dynamic_blocks(container, "env"):
            names = resolve(block["for_each"], local)
            content = block["content"][0]
            secret = "secret_name" in content
            env.update({name: unquote(value) if secret else None for name, value in names.items()})
        readable = set()
        for block in dynamic_blocks(body, "secret"):
            source = re.fullmatch(r"\$\{toset\(values\((.*)\)\)\}", block["for_each"])
            assert source, f"{app}: secret blocks must iterate toset(values(local.app_secret_env[...]))"
            readable |= {unquote(v) for v in resolve("${" + source.group(1) + "}", local).values()}
            if f'"{app}"' not in block["content"][0]["identity"]:
                problems.append(f"{app}: reads its secrets through another app's identity")
        for name, secret in env.items():
            if secret is not None and secret not in readable:
                problems.append(f"{app}: {name} names secret {secret}, which the app does not declare")
            if secret is not None and secret not in secrets:
                problems.append(f"{app}: {name} names secret {secret}, which Key Vault does not hold")
        given[app] = env
    grants = local["secret_grants"]
    if "local.app_secret_env" not in grants:
        problems.append("secret_grants must be made from local.app_secret_env (what each app reads)")
    return given, problems


def compose_settings(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Per service: {variable: value as written}; and required settings given an empty default."""
    services = YAML(typ="safe").load(path.read_text())["services"]
    given = {app: {k: str(v) for k, v in (services[service].get("environment") or {}).items()}
             for app, service in COMPOSE_SERVICES.items()}
    problems = [
        f"{app}: {name} has an empty default ({value})"
        for app, env in given.items() for name, value in env.items()
        if name in PROCESS_SETTINGS[app].required and re.search(r"\$\{\w+:?-\}", value)
    ]
    return given, problems


def guide_settings(path: Path) -> dict[str, dict[str, str]]:
    """The guide's table `| setting | api | worker | sync | migrate |`: per app {variable: mark}."""
    rows = [line for line in path.read_text().splitlines() if re.match(r"\| `[A-Z0-9_]+` \|", line)]
    table: dict[str, dict[str, str]] = {app: {} for app in APPS}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for app, mark in zip(APPS, cells[1:], strict=True):
            if mark:
                table[app][cells[0].strip("`")] = mark
    return table


def contract_problems(names: dict[str, Any], where: str) -> list[str]:
    """What each app lacks of its contract, and what it is given but never reads."""
    problems = []
    for app, contract in PROCESS_SETTINGS.items():
        present = frozenset(names[app])
        problems += [f"{where} {app}: missing {missing}" for missing in contract.missing(present)]
        problems += [f"{where} {app}: {name} is not read by {contract.description}"
                     for name in sorted(present - contract.reads)]
    return problems


def deployment_problems(azure: Path = AZURE, compose: Path = COMPOSE, guide: Path = GUIDE) -> list[str]:
    tf, problems = terraform_settings(azure)
    problems += contract_problems(tf, "terraform")
    compose_env, compose_problems = compose_settings(compose)
    problems += compose_problems + contract_problems(compose_env, "compose")
    documented = guide_settings(guide)
    for app in APPS:
        expected = {name: "secret" if secret else "✓" for name, secret in tf[app].items()}
        if documented[app] != expected:
            problems.append(f"guide {app}: the table says {sorted(documented[app].items())}, "
                            f"Terraform gives {sorted(expected.items())}")
    return problems


def test_every_deployment_gives_each_process_what_it_requires_and_nothing_it_does_not_read():
    assert deployment_problems() == []


@pytest.fixture
def copies(tmp_path: Path) -> dict[str, Path]:
    azure = tmp_path / "azure"
    shutil.copytree(AZURE, azure)
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(GUIDE, tmp_path / "deploy-azure.md")
    return {"azure": azure, "compose": tmp_path / "docker-compose.yml", "guide": tmp_path / "deploy-azure.md"}


def problems_of(copies: dict[str, Path]) -> list[str]:
    return deployment_problems(copies["azure"], copies["compose"], copies["guide"])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_removing_the_workers_activation_link_keys_from_terraform_fails(copies):
    apps = copies["azure"] / "apps.tf"
    text = apps.read_text()
    worker = text.index("    worker = {\n      DOMAIN_DB_CONNECTION_STRING")
    line = '      ACTIVATION_LINK_KEYS          = "activation-link-keys"\n'
    at = text.index(line, worker)
    apps.write_text(text[:at] + text[at + len(line):])
    problems = problems_of(copies)
    assert "terraform worker: missing ACTIVATION_LINK_KEYS" in problems
    assert any(p.startswith("guide worker:") for p in problems)  # the table no longer matches either


def test_removing_the_sync_services_smtp_host_from_terraform_fails(copies):
    edit(copies["azure"] / "apps.tf", "    SMTP_HOST         = var.smtp_host\n", "")
    assert "terraform sync: missing SMTP_HOST" in problems_of(copies)


def test_a_secret_the_app_may_not_read_or_key_vault_lacks_fails(copies):
    edit(copies["azure"] / "keyvault.tf", '    "smtp-password"                 = var.smtp_password\n', "")
    assert "sync: SMTP_PASSWORD names secret smtp-password, which Key Vault does not hold" in problems_of(copies)


def test_a_misspelt_setting_given_to_an_app_fails(copies):
    edit(copies["azure"] / "apps.tf", "    METRICS_PORT = \"9102\"\n", "    METRIC_PORT = \"9102\"\n")
    assert "terraform worker: METRIC_PORT is not read by the worker" in problems_of(copies)


def test_removing_a_required_setting_from_compose_fails(copies):
    line = "      OPERATOR_EMAILS: ${OPERATOR_EMAILS:?set OPERATOR_EMAILS (who is mailed when a sync job fails)}\n"
    edit(copies["compose"], line, "")
    assert "compose sync: missing OPERATOR_EMAILS" in problems_of(copies)


def test_a_required_setting_with_an_empty_default_in_compose_fails(copies):
    edit(copies["compose"], "${SMTP_HOST:?set SMTP_HOST (the mail relay notifications go through)}", "${SMTP_HOST:-}")
    assert "sync: SMTP_HOST has an empty default (${SMTP_HOST:-})" in problems_of(copies)


def test_removing_a_row_from_the_guides_table_fails(copies):
    edit(copies["guide"], "| `SMTP_HOST` |  |  | ✓ |  |\n", "")
    assert any(p.startswith("guide sync:") for p in problems_of(copies))


def test_the_sync_service_runs_the_worker_image_with_its_own_command_everywhere():
    sync = app_resources(load_tf(AZURE))["sync"]
    [container] = sync["template"][0]["container"]
    assert container["image"] == "${local.images.worker}"
    assert [unquote(part) for part in container["command"]] == ["python", "-m", "sync"]
    service = YAML(typ="safe").load(COMPOSE.read_text())["services"]["sync"]
    assert (service["build"]["dockerfile"], service["command"]) == ("Dockerfile.worker", ["python", "-m", "sync"])
    guide = GUIDE.read_text()
    assert "python -m sync" in guide and "sync/Dockerfile" not in guide
    assert not (ROOT / "sync" / "Dockerfile").exists()


def test_every_declared_name_is_a_setting_and_every_setting_is_declared():
    """A name in a contract means something to the process; a new setting must be declared somewhere."""
    credentials = {f"DATABRICKS_{name.upper()}" if name == "token" else name.upper()
                   for name in DatabricksCredentials.__dataclass_fields__}
    fields = {name.upper() for name in Settings.__dataclass_fields__} - {"DATABRICKS_CREDENTIALS"}
    declared = set().union(*(contract.reads for contract in PROCESS_SETTINGS.values()))
    assert declared - fields - credentials - GUNICORN_VARIABLES == set()
    assert fields - declared == set()
    for contract in PROCESS_SETTINGS.values():
        assert contract.required <= contract.reads
