"""deploy/azure checked against azurerm's own schema, offline: what `terraform validate` would refuse.

The schema is azurerm 4.55.0's (the version versions.tf pins), extracted from the npm package
@cdktf/provider-azurerm 14.23.1, which is generated from it, by `extract_azurerm_schema.py` (its docstring
says how to run it again). Every azurerm resource and data source must be a type the provider has; each
attribute and nested block (dynamic ones too) a name its schema has, a block that may appear once must
appear at most once, every required argument and block must be set, and a literal value must have a type
Terraform can convert to the attribute's type. Expressions (`${...}`) are left to Terraform.
"""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.hcl import load_hcl

HERE = Path(__file__).resolve().parent
AZURE = HERE.parents[2] / "deploy" / "azure"
SCHEMA = HERE / "azurerm-schema.json"
# Terraform's own arguments of every resource (https://developer.hashicorp.com/terraform/language/meta-arguments).
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
KINDS = {"resource": "resources", "data": "data-sources"}


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def literal_string(value: Any) -> str | None:
    """The text of a quoted literal (python-hcl2 keeps the quotes), else None."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return None


def type_problem(value: Any, expected: str) -> str | None:
    """Why Terraform could not convert this literal to `expected` (None when it can or it is an expression)."""
    if is_expression(value) or expected == "any":
        return None
    text = literal_string(value)
    scalar = text is not None or isinstance(value, (bool, int, float))
    if expected == "string" and scalar:
        return None
    if expected == "number" and not isinstance(value, bool) and (
        isinstance(value, (int, float)) or (text is not None and re.fullmatch(r"-?\d+(\.\d+)?", text))
    ):
        return None
    if expected == "bool" and (isinstance(value, bool) or text in ("true", "false")):
        return None
    if expected == "list" and isinstance(value, list):
        return None
    if expected == "map" and isinstance(value, dict) and "__is_block__" not in value:
        return None
    return f"{value!r} is not a {expected}"


def check_body(body: dict[str, Any], block_schema: dict[str, Any], where: str) -> list[str]:
    """Problems of one block's body against its schema (recursing into nested and dynamic blocks)."""
    attributes, blocks = block_schema["attributes"], block_schema["blocks"]
    problems: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key in ("__is_block__", "__comments__", "__inline_comments__", *META_ARGUMENTS):
            continue
        if key == "dynamic":
            for labelled in value:
                for label, dynamic in labelled.items():
                    name = label.strip('"')
                    present.add(name)
                    if name not in blocks:
                        problems.append(f"{where}: dynamic block {name} is not a block of this resource")
                        continue
                    for content in dynamic.get("content", []):
                        problems += check_body(content, blocks[name]["schema"], f"{where}.{name}")
            continue
        present.add(key)
        if key in blocks:
            instances = value if isinstance(value, list) else [value]
            if not all(isinstance(i, dict) and i.get("__is_block__") for i in instances):
                problems.append(f"{where}: {key} is a block, written as an argument")
                continue
            if len(instances) > 1 and not blocks[key]["repeatable"]:
                problems.append(f"{where}: block {key} may appear once, appears {len(instances)} times")
            for instance in instances:
                problems += check_body(instance, blocks[key]["schema"], f"{where}.{key}")
        elif key in attributes:
            if isinstance(value, dict) and value.get("__is_block__"):
                problems.append(f"{where}: {key} is an argument, written as a block")
            elif problem := type_problem(value, attributes[key]["type"]):
                problems.append(f"{where}: {key}: {problem}")
        else:
            problems.append(f"{where}: unsupported argument or block {key!r}")
    for name, spec in {**attributes, **blocks}.items():
        if spec["required"] and name not in present:
            problems.append(f"{where}: required {name!r} is missing")
    return problems


def schema_problems(directory: Path) -> list[str]:
    """Every problem of every azurerm resource and data source in `directory`'s *.tf files."""
    problems: list[str] = []
    for path in sorted(directory.glob("*.tf")):
        parsed = load_hcl(path)
        for key, kind in KINDS.items():
            for block in parsed.get(key, []):
                for quoted_type, named in block.items():
                    type_name = quoted_type.strip('"')
                    if not type_name.startswith("azurerm_"):
                        continue  # the random provider's resources: not in this schema
                    for quoted_name, body in named.items():
                        where = f"{path.name}: {type_name}.{quoted_name.strip(chr(34))}"
                        if type_name not in schema()["names"][kind]:
                            problems.append(f"{where}: azurerm {schema()['version']} has no {kind[:-1]} {type_name}")
                        elif type_name not in schema()["schemas"][kind]:
                            problems.append(f"{where}: not in {SCHEMA.name}; run extract_azurerm_schema.py again")
                        else:
                            problems += check_body(body, schema()["schemas"][kind][type_name], where)
    return problems


def test_the_schema_is_the_pinned_provider_versions():
    versions = (AZURE / "versions.tf").read_text()
    pinned = re.search(r'azurerm = \{[^}]*version\s*=\s*"([^"]+)"', versions, re.S)
    assert pinned and pinned.group(1) == schema()["version"] == "4.55.0"


def test_every_azurerm_resource_matches_the_provider_schema():
    assert schema_problems(AZURE) == []


@pytest.fixture
def azure_copy(tmp_path: Path) -> Path:
    shutil.copytree(AZURE, tmp_path / "azure")
    return tmp_path / "azure"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("apps.tf", "  revision_mode                = ", "  revison_mode                 = ",
         "apps.tf: azurerm_container_app.api: unsupported argument or block 'revison_mode'"),
        ("apps.tf", "    allow_insecure_connections = false", "    allow_insecure_connection = false",
         "apps.tf: azurerm_container_app.api.ingress: unsupported argument or block 'allow_insecure_connection'"),
        ("apps.tf", '  dynamic "secret" {', '  dynamic "secrets" {',
         "apps.tf: azurerm_container_app.api: dynamic block secrets is not a block of this resource"),
        ("apps.tf", "      key_vault_secret_id = ", "      key_vault_secret_uri = ",
         "apps.tf: azurerm_container_app.api.secret: unsupported argument or block 'key_vault_secret_uri'"),
        ("apps.tf", '      memory = "1Gi"\n', "",
         "apps.tf: azurerm_container_app.api.template.container: required 'memory' is missing"),
        ("apps.tf", "    target_port                = 8000", '    target_port                = "eight"',
         "apps.tf: azurerm_container_app.api.ingress: target_port: '\"eight\"' is not a number"),
        ("database.tf", "resource \"azurerm_postgresql_flexible_server\" \"main\"",
         "resource \"azurerm_postgresql_flexibleserver\" \"main\"",
         "database.tf: azurerm_postgresql_flexibleserver.main: azurerm 4.55.0 has no resource "
         "azurerm_postgresql_flexibleserver"),
    ],
    ids=["misspelt-argument", "misspelt-nested-argument", "misspelt-dynamic-block", "misspelt-dynamic-content",
         "missing-required", "wrong-type", "misspelt-resource-type"],
)
def test_a_mistake_fails_the_check(azure_copy, file, old, new, expected):
    edit(azure_copy / file, old, new)
    assert expected in schema_problems(azure_copy)


def test_a_block_that_may_appear_once_appearing_twice_fails(azure_copy):
    ingress = "  ingress {\n    external_enabled           = true\n"
    text = (azure_copy / "apps.tf").read_text()
    start = text.index(ingress)
    end = text.index("\n  }\n", start) + len("\n  }\n")
    (azure_copy / "apps.tf").write_text(text[:end] + text[start:end] + text[end:])
    assert "apps.tf: azurerm_container_app.api: block ingress may appear once, appears 2 times" in schema_problems(
        azure_copy
    )
