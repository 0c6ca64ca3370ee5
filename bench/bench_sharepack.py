"""Benchmark share pack parsing: a big generated pack in YAML and Excel, the chosen path against the naive one.

Run `.venv/bin/python -m bench.bench_sharepack [--repeat N]`. The pack has 1,000 recipients, 500 shares and
20,000 data objects (a quarter of them written as mappings with shared_as/history, the rest as names). Each
path parses and validates the whole pack; times are the median of N runs in this process. Peak memory is
measured in a fresh subprocess per format (ru_maxrss, so it includes the interpreter and the imports, and
tracemalloc's peak of what the parse itself allocates). The naive paths run the same validation behind
ruamel's round-trip loader and pandas' openpyxl engine, so the ratios isolate the reader choices.

`--baseline TREE` also times the parser of another checkout (e.g. `git archive <commit> | tar -x -C /tmp/base`)
on the same files, alternating rounds with this one so both see the same machine load, and prints the ratios
of the wall and CPU medians (CPU time is the steadier on a shared machine).
Then every hostile file of `tests/unit/share_pack_file/hostile.py` is timed until refused (median of N).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from shared.share_pack_file import (
    DataObjectSpec,
    Metadata,
    RecipientSpec,
    RecipientType,
    SharePackSpec,
    ShareSpec,
    Strategy,
    parse_share_pack,
    to_excel,
    to_yaml,
)
from shared.share_pack_file.issues import Findings
from shared.share_pack_file.parse import _collector_pause
from shared.share_pack_file.parse_excel import read_excel
from shared.share_pack_file.validate import validate_share_pack
from tests.unit.share_pack_file.hostile import HOSTILE_FILES

RECIPIENTS, SHARES, OBJECTS_PER_SHARE = 1_000, 500, 40
TARGETS = {"yaml": 0.7, "xlsx": 0.4}
MEMORY_TARGET_MB = 300


def big_share_pack() -> SharePackSpec:
    """Return the benchmark pack: every recipient used, every share with 40 data objects."""
    recipients = tuple(
        RecipientSpec(name=f"recipient_{i:04d}", type=RecipientType.D2O, email=f"owner{i}@partner{i}.example.com",
                  allowed_ips=(f"10.{i % 250}.0.0/16", "192.0.2.10"), comment=f"Partner {i}", token_expiry_days=90)
        if i % 2 else
        RecipientSpec(name=f"recipient_{i:04d}", type=RecipientType.D2D,
                  metastore_id=f"azure:westeurope:12345678-1234-4234-8234-{i:012d}")
        for i in range(RECIPIENTS)
    )
    shares = tuple(
        ShareSpec(
            name=f"share_{s:03d}",
            comment=f"Share {s}",
            recipients=(f"recipient_{(2 * s) % RECIPIENTS:04d}", f"recipient_{(2 * s + 1) % RECIPIENTS:04d}"),
            data_objects=tuple(
                DataObjectSpec(name=f"cat_{s % 7}.schema_{j % 5}.table_{s}_{j}", shared_as=f"schema_{j % 5}.t_{s}_{j}",
                           history=True)
                if j % 4 == 0 else DataObjectSpec(name=f"cat_{s % 7}.schema_{j % 5}.table_{s}_{j}")
                for j in range(OBJECTS_PER_SHARE)
            ),
        )
        for s in range(SHARES)
    )
    metadata = Metadata(requestor="jane.doe@example.com", project_name="Benchmark", business_line="Finance",
                        strategy=Strategy.NEW)
    return SharePackSpec(metadata=metadata, recipients=recipients, shares=shares)


def naive_yaml(content: bytes) -> SharePackSpec | None:
    """The same validation behind ruamel's default round-trip loader (what `YAML().load` does)."""
    with _collector_pause.around(len(content)):
        findings = Findings()
        return validate_share_pack(YAML().load(content.decode()), findings)


def naive_excel(content: bytes) -> SharePackSpec | None:
    """The same reader and validation with pandas' openpyxl engine instead of calamine."""
    with _collector_pause.around(len(content)):
        findings = Findings()
        return validate_share_pack(read_excel(content, findings, engine="openpyxl"), findings)


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (VmHWM on Linux, else ru_maxrss)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure_memory(path: Path) -> dict[str, float]:
    """In this (fresh) process: parse once; report peak RSS and tracemalloc's peak for the parse, in MB."""
    with contextlib.suppress(OSError):
        # A forked child inherits its parent's high-water mark; "5" resets it (Linux >= 4.0).
        Path("/proc/self/clear_refs").write_text("5")
    content = path.read_bytes()
    before = peak_rss_mb()
    tracemalloc.start()
    result = parse_share_pack(content, filename=path.name)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.is_valid, result.errors[:3]
    return {"rss_before_mb": before, "rss_peak_mb": peak_rss_mb(), "parse_allocations_peak_mb": traced_peak / 2**20}


# Run in a fresh interpreter with another checkout first on sys.path: time its parse_share_pack on the files.
_BASELINE_TIMER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from shared.share_pack_file import parse_share_pack
result = {}
for path in sys.argv[3:]:
    content = open(path, "rb").read()
    times = []
    for _ in range(int(sys.argv[2])):
        started, cpu = time.perf_counter(), time.process_time()
        if not parse_share_pack(content, filename=path).is_valid:
            times = None  # an older format cannot read a newer writer's file (e.g. a new column)
            break
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    result[path] = times
print(json.dumps(result))
"""


def compare_with_baseline(baseline: Path, paths: list[Path], repeat: int, rounds: int = 3) -> None:
    """Time this checkout's parser and the baseline's on the same files, alternating rounds; print medians."""
    here = Path(__file__).resolve().parents[1]
    times: dict[str, dict[str, list[list[float]]]] = {"baseline": {}, "this": {}}
    refused: set[str] = set()
    for _ in range(rounds):
        for label, tree in (("baseline", baseline), ("this", here)):
            run = subprocess.run([sys.executable, "-c", _BASELINE_TIMER, str(tree), str(repeat), *map(str, paths)],
                                 capture_output=True, text=True)
            if run.returncode:
                raise SystemExit(f"the {label} parser failed on the files:\n{run.stderr}")
            for path, measured in json.loads(run.stdout).items():
                if measured is None:
                    refused.add(Path(path).suffix[1:])
                else:
                    times[label].setdefault(Path(path).suffix[1:], []).extend(measured)
    for file_format in sorted(refused):
        print(f"{file_format:>4}: not compared: the baseline's parser refuses this file (written in a newer format)")
    for file_format in times["this"].keys() - refused:
        line = []
        for index, clock in enumerate(("wall", "CPU")):
            before = statistics.median(sample[index] for sample in times["baseline"][file_format])
            after = statistics.median(sample[index] for sample in times["this"][file_format])
            line.append(f"{clock} baseline {before:.3f} s, this {after:.3f} s = {after / before:.2f}x")
        print(f"{file_format:>4}: {' | '.join(line)} (medians of {rounds * repeat}, alternating rounds)")


def time_hostile_files(repeat: int) -> None:
    """Time each hostile file until it is refused (never accepted), in MB/s of what was sent."""
    print("hostile files (median time to refuse):")
    for name, generate in HOSTILE_FILES.items():
        filename, content = generate()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = parse_share_pack(content, filename=filename)
            times.append(time.perf_counter() - started)
            assert not result.is_valid, name
        seconds = statistics.median(times)
        print(f"  {name:<30} {len(content) / 1024:>8,.0f} KB  {seconds * 1000:>7.1f} ms  "
              f"{len(result.errors):>3} errors, first: {result.errors[0].message[:60]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--measure-memory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help="another checkout whose parser to compare with")
    args = parser.parse_args()
    if args.measure_memory:
        print(json.dumps(measure_memory(args.measure_memory)))
        return 0

    pack = big_share_pack()
    files = {"yaml": to_yaml(pack).encode(), "xlsx": to_excel(pack)}
    naive = {"yaml": naive_yaml, "xlsx": naive_excel}
    objects = sum(len(share.data_objects) for share in pack.shares)
    print(f"pack: {len(pack.recipients):,} recipients, {len(pack.shares):,} shares, {objects:,} data objects; "
          f"YAML {len(files['yaml']) / 2**20:.2f} MB, xlsx {len(files['xlsx']) / 2**20:.2f} MB; "
          f"median of {args.repeat} runs")
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        for file_format, content in files.items():
            result = parse_share_pack(content, filename=f"big.{file_format}")
            assert result.is_valid and result.spec == pack, (result.errors[:3], result.warnings[:3])
            assert naive[file_format](content) == pack
            fast = median_seconds(lambda c=content, f=file_format: parse_share_pack(c, filename=f"big.{f}"),
                                  args.repeat)
            slow = median_seconds(lambda c=content, f=file_format: naive[f](c), args.repeat)
            path = Path(directory) / f"big.{file_format}"
            path.write_bytes(content)
            measured = subprocess.run([sys.executable, "-m", "bench.bench_sharepack", "--measure-memory", str(path)],
                                      check=True, capture_output=True, text=True, cwd=Path(__file__).parents[1])
            memory = json.loads(measured.stdout)
            ok = fast <= TARGETS[file_format] and memory["rss_peak_mb"] <= MEMORY_TARGET_MB
            failed |= not ok
            naive_name = "ruamel round-trip loader" if file_format == "yaml" else "pandas + openpyxl"
            print(f"{file_format:>4}: parse+validate {fast:.3f} s (target ≤ {TARGETS[file_format]} s) | naive "
                  f"({naive_name}) {slow:.3f} s = {slow / fast:.1f}x slower | peak RSS "
                  f"{memory['rss_peak_mb']:.0f} MB (before parse {memory['rss_before_mb']:.0f} MB, target ≤ "
                  f"{MEMORY_TARGET_MB} MB), parse allocations peak {memory['parse_allocations_peak_mb']:.0f} MB"
                  f" | {'OK' if ok else 'OVER TARGET'}")
        if args.baseline:
            compare_with_baseline(args.baseline, [Path(directory) / f"big.{f}" for f in files], args.repeat)
    time_hostile_files(args.repeat)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
