"""Every entry of the suite's `slow` list names a test file that exists: a file moved without its entry would
quietly put minutes back into `make test-fast`."""

from __future__ import annotations

from tests.conftest import SLOW, TESTS


def test_every_slow_entry_names_an_existing_file():
    missing = [entry for entry in SLOW if not entry.endswith("/") and not (TESTS / entry.split("::")[0]).is_file()]
    folders = [entry for entry in SLOW if entry.endswith("/") and not (TESTS / entry).is_dir()]
    assert missing + folders == []
