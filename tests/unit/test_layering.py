"""Dependencies point inward: api -> shared <- worker; shared never imports a deployable or Flask; nothing
deployable imports `dev/`, and the dev-server plumbing both emulators share knows neither emulator.

`shared/` is sorted on one axis: `platform/` (settings, database, logging, ...) below the domain packages,
which are below `use_cases/`; no loose module sits beside them. The share pack file format and the
provisioner never load SQLAlchemy, not even through another module: the CLI and the engine's unit
tests run without a database, and the engine talks to a workspace, not to our tables."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Development only: the emulators, the plumbing they share and `make run`'s stack. No deployable imports it.
DEV_ONLY = {"dev"}
#: The domain packages of shared/ (besides the table definitions, the queue and the file format, which the
#: platform's schema check, health check and metric labels read).
DOMAIN = {"shared.access", "shared.access_expiry", "shared.drift", "shared.graph", "shared.notifications",
          "shared.preflight", "shared.provisioning"}
#: Per folder, the modules (and everything under them) none of its files may import.
FORBIDDEN = {
    "sync": {"api", "worker", "flask", "flask_smorest", *DEV_ONLY},
    "shared": {"flask", "flask_smorest", "api", "worker", "sync", "gunicorn", *DEV_ONLY},
    "shared/platform": {"shared.use_cases", *DOMAIN},
    **{f"shared/{package.removeprefix('shared.')}": {"shared.use_cases"} for package in DOMAIN},
    "shared/models": {"shared.use_cases", *DOMAIN},
    "shared/queue": {"shared.use_cases", *DOMAIN},
    "shared/share_pack_file": {"shared.use_cases", *DOMAIN - {"shared.provisioning"}},
    "api": {"worker", "sync", *DEV_ONLY},
    "worker": {"api", "sync", "flask", "flask_smorest", *DEV_ONLY},
    "dev/devserver": {"shared", "api", "worker", "sync", "dev.emulator", "dev.graph_emulator", "dev.devstack"},
}


#: Packages whose modules, and every module they import in turn, never import these.
NEVER_LOADS = {
    "shared/share_pack_file": {"sqlalchemy"},
    "shared/provisioning": {"sqlalchemy"},
}


def forbidden_imports(path: Path, forbidden: set[str]) -> set[str]:
    """The names `path` imports (at run time or for type checking) that are, or are inside, a forbidden one."""
    return {
        name
        for name in imported_modules(path, type_checking_too=True)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_lane(package):
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    for path in files:
        assert not forbidden_imports(path, FORBIDDEN[package]), path


def test_shared_holds_packages_only():
    """Every module of shared/ sits in the platform, a domain package or the use cases."""
    loose = sorted(p.name for p in (ROOT / "shared").glob("*.py") if p.name != "__init__.py")
    assert loose == []


@functools.cache
def imported_modules(path: Path, *, type_checking_too: bool = False) -> frozenset[str]:
    """The dotted names a module imports at run time (imports under `if TYPE_CHECKING:` do not run, unless
    `type_checking_too`)."""
    tree = ast.parse(path.read_text())
    type_checking = set() if type_checking_too else {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for child in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from shared import metrics`
    return frozenset(names)


def source_of(module: str) -> Path | None:
    """This repository's file of a dotted module name, or None for a third-party or missing one."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_reached(start: Path) -> dict[str, list[str]]:
    """Every top-level package outside this repository that importing `start` loads, with one import chain each."""
    first = ".".join(start.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    chains: dict[str, list[str]] = {first: [first]}
    reached: dict[str, list[str]] = {}
    pending = [first]
    while pending:
        module = pending.pop()
        path = source_of(module)
        if path is None:
            continue
        parts = module.split(".")
        parents = {".".join(parts[:n]) for n in range(1, len(parts))}  # importing a.b.c runs a and a.b
        for name in imported_modules(path) | parents:
            if source_of(name) is None:  # third party, or a name inside one of our modules
                root = name.split(".")[0]
                if source_of(root) is None:
                    reached.setdefault(root, [*chains[module], name])
                continue
            if name not in chains:
                chains[name] = [*chains[module], name]
                pending.append(name)
    return reached


@pytest.mark.parametrize("package", sorted(NEVER_LOADS))
def test_package_never_loads_what_it_must_not(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    for path in files:
        reached = third_party_reached(path)
        for forbidden in sorted(NEVER_LOADS[package] & reached.keys()):
            pytest.fail(f"{path.relative_to(ROOT)} loads {forbidden}: {' -> '.join(reached[forbidden])}")


#: Modules a package must not import by name, though their package is allowed: the worker takes no uploads.
FORBIDDEN_MODULES = {
    "worker": {
        "shared.share_pack_file.parse", "shared.share_pack_file.validate", "shared.preflight",
        "shared.use_cases.preflight", "shared.use_cases.submit", "shared.use_cases.lifecycle",
    },
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_MODULES))
def test_package_imports_no_forbidden_module(package):
    for path in (ROOT / package).rglob("*.py"):
        hits = forbidden_imports(path, FORBIDDEN_MODULES[package])
        assert not hits, (path, hits)
