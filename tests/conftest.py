"""Suite-wide fixtures: real services started once per session (PostgreSQL, Azurite, the workspace emulator).

Under pytest-xdist each worker is its own session, so each starts its own services (the database is named
after PYTEST_XDIST_WORKER as well). Tiers are marked by folder here and nowhere else, so `-m` can pick them
(`make test-fast`): ``unit``, ``integration``, ``e2e``, ``browser``, ``containers`` (left out unless asked
for: they need the built images), plus ``slow`` for the few tests that take many seconds each.

No test may leave work running behind it (`tests.support.leftovers` fails the test that does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.leftovers",  # first: tests.support.azurite imports it
    "tests.support.postgres",
    "tests.support.azurite",
    "tests.support.emulator",
    "tests.support.smtp",
    "tests.support.graph_emulator",
]

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "browser", "containers")
#: Tests of many seconds each: outages waited out, the design-scale pack, hostile files sent to gunicorn.
SLOW = ("e2e/test_outages.py", "e2e/test_big_pack.py", "integration/api/test_hostile_uploads.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = item.path.resolve().relative_to(TESTS).as_posix()
        except ValueError:
            continue
        tier = relative.split("/", 1)[0]
        if tier in TIERS:
            item.add_marker(tier)
        if relative.startswith(SLOW):
            item.add_marker("slow")
