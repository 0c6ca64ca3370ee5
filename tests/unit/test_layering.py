"""Dependencies point inward: api -> shared <- worker; shared never imports a deployable or Flask; the
dev-server plumbing both emulators share stays dev-only and knows neither emulator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Development-only packages: the emulators and the plumbing they share. No deployable may import them.
DEV_ONLY = {"emulator", "graph_emulator", "devserver"}
FORBIDDEN = {
    "sync": {"api", "worker", "flask", "flask_smorest", *DEV_ONLY},
    "shared": {"flask", "flask_smorest", "api", "worker", "sync", "gunicorn", *DEV_ONLY},
    "api": {"worker", "sync", *DEV_ONLY},
    "worker": {"api", "sync", "flask", "flask_smorest", *DEV_ONLY},
    "devserver": {"shared", "api", "worker", "sync", "emulator", "graph_emulator", "devstack"},
}


#: Modules a package must not import by name, though their package is allowed: the worker takes no uploads.
FORBIDDEN_MODULES = {
    "worker": {
        "shared.share_pack_file.parse", "shared.share_pack_file.validate", "shared.preflight",
        "shared.use_cases.preflight", "shared.use_cases.submit", "shared.use_cases.lifecycle",
    },
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and not n.level:
            names |= {n.module, *(f"{n.module}.{a.name}" for a in n.names)}
    return names


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {
        n.module.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and not n.level
    }
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_lane(package):
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    for path in files:
        assert not imported_roots(path) & FORBIDDEN[package], path


@pytest.mark.parametrize("package", sorted(FORBIDDEN_MODULES))
def test_package_imports_no_forbidden_module(package):
    for path in (ROOT / package).rglob("*.py"):
        names = imported_modules(path)
        hits = {n for n in names for f in FORBIDDEN_MODULES[package] if n == f or n.startswith(f + ".")}
        assert not hits, (path, hits)
