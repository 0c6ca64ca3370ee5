"""requirements.lock, which the images install with `--require-hashes`, is current with pyproject.toml.

Two checks: offline, every production dependency is pinned to a version its specifier admits and every pin
carries hashes; and `deploy/images/lock.sh` (what `make lock` runs), run over a copy of the lock, changes
nothing, which also catches a stale transitive pin or a dependency dropped from pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins() -> dict[str, tuple[Version, int]]:
    """Each locked package's version and how many hashes it carries."""
    locked: dict[str, tuple[Version, int]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            locked[name] = (Version(match[2]), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, count = locked[name]
            locked[name] = (version, count + 1)
    return locked


def test_every_production_dependency_is_pinned_within_its_specifier_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = pins()
    assert locked, "requirements.lock pins nothing"
    assert all(count > 0 for _, count in locked.values()), [n for n, (_, c) in locked.items() if c == 0]
    for requirement in map(Requirement, project["dependencies"]):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is in pyproject.toml but not in requirements.lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} !~ {requirement}"


def test_no_development_dependency_is_locked_for_the_images():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    development = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    production = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    # A dev tool may also be needed at run time by a production dependency (psutil is), so only the
    # ones nothing in production pulls in are checked: the test runner, the linters, the embedded database.
    for name in ("pytest", "ruff", "pgserver", "playwright", "schemathesis", "uv", "aiosmtpd"):
        assert name in development and name not in production
        assert name not in pins(), f"{name} is a development tool but requirements.lock installs it in the images"


@pytest.mark.skipif(shutil.which(str(ROOT / ".venv/bin/uv")) is None, reason="uv is not installed (make install)")
def test_lock_is_what_make_lock_generates(tmp_path):
    """Regenerating keeps the existing pins, so this fails only when pyproject.toml and the lock disagree."""
    regenerated = tmp_path / "requirements.lock"
    shutil.copy(LOCK, regenerated)
    result = subprocess.run([str(ROOT / "deploy/images/lock.sh"), str(regenerated)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert regenerated.read_text() == LOCK.read_text(), "requirements.lock is out of date: run `make lock`"
