"""Every hostile file is refused with located, bounded issues, by the parser and by `sharepack validate`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.share_pack_file import parse_share_pack
from shared.share_pack_file.cli import EXIT_INVALID, main
from shared.share_pack_file.issues import MAX_ECHO_CHARS, MAX_MESSAGE_CHARS, MAX_REPORTED_ISSUES
from tests.unit.share_pack_file.hostile import HOSTILE_FILES

# Not a benchmark (bench/bench_sharepack.py times each file): before the fix these files took minutes or
# aborted the process, so ten seconds separates "fixed" from "broken" even on a machine shared by many.
REFUSAL_SECONDS = 10.0
MAX_OUTPUT_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def hostile_files() -> dict[str, tuple[str, bytes]]:
    return {name: generate() for name, generate in HOSTILE_FILES.items()}


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_a_hostile_file_is_refused_with_located_bounded_issues(name, hostile_files):
    filename, content = hostile_files[name]

    result = parse_share_pack(content, filename=filename)

    assert not result.is_valid
    assert result.errors[0].location, result.errors[0]
    assert len(result.errors) <= MAX_REPORTED_ISSUES + 1
    for issue in result.errors + result.warnings:
        assert len(issue.message) <= MAX_MESSAGE_CHARS + 1
        assert len(issue.path) <= MAX_ECHO_CHARS * 6
        assert "\x00" not in str(issue)
    assert sum(len(str(issue)) for issue in result.errors + result.warnings) <= MAX_OUTPUT_BYTES


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_sharepack_validate_refuses_a_hostile_file_quickly_with_bounded_output(name, hostile_files, tmp_path: Path,
                                                                               capsys):
    filename, content = hostile_files[name]
    path = tmp_path / filename
    path.write_bytes(content)
    started = time.perf_counter()

    code = main(["validate", str(path)])

    elapsed = time.perf_counter() - started
    output = capsys.readouterr()
    assert code == EXIT_INVALID
    assert len((output.out + output.err).encode()) <= MAX_OUTPUT_BYTES
    assert elapsed < REFUSAL_SECONDS, f"{name} took {elapsed:.2f} s"
