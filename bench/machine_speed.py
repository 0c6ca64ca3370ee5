"""How fast this machine's cores are right now, measured beside a benchmark run so its figures can be read.

Why: the machine the benchmarks run on is a 2-core virtual machine whose speed moves with its host. On an
idle machine, the same pure-Python loop (2,000,000 additions) took from 57 to 107 ms of CPU, median 80, in
40 runs 1.5 s apart; in the upload benchmark the same code's API CPU per upload moved from 7.9 to 12.6 ms
between runs. A run's CPU figures and latencies follow that speed, so a tree that happened to run in a slow
spell looks slower. `SpeedProbe` runs a fixed piece of work, `CHUNK` additions, in a separate process at the
lowest priority (nice 19) during the run and records the CPU time each piece took: its median says how fast
the cores were during that run, and a figure divided by it compares across runs.

Process time, not wall time: the probe waits for a core whenever the stack wants both, and that waiting is
not its speed. What it does include is what the stack's processes also pay at that moment: a slower host
core, caches shared with a neighbour. Each piece is followed by a pause (`PAUSE_SECONDS`), so the probe takes
~2% of a core when it is idle and much less under load; at nice 19 it yields to everything else.

    .venv/bin/python -m bench.machine_speed [--seconds 60]   # print the spread over a minute
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from types import TracebackType

# ~3-5 ms of CPU on the benchmark machine: short enough to finish between the stack's time slices at nice 19
# (one piece a second or so under full load), long enough that timer resolution does not matter.
CHUNK = 150_000
PAUSE_SECONDS = 0.2


def piece() -> float:
    """CPU milliseconds of one fixed piece of pure-Python work."""
    started = time.process_time()
    total = 0
    for i in range(CHUNK):
        total += i
    return (time.process_time() - started) * 1000


class SpeedProbe:
    """Times pieces of fixed work in a nice-19 process while the ``with`` block runs; `.milliseconds` after it
    holds each piece's CPU time.

    A piece that began before the block ended is counted; one still running when it ends is not.
    """

    def __init__(self) -> None:
        self.milliseconds: list[float] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SpeedProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.machine_speed", "--pieces"],
            stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(19),
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        assert self._process is not None
        self._process.terminate()
        output, _ = self._process.communicate(timeout=30)
        self.milliseconds = [float(line) for line in output.split()]

    @property
    def median_ms(self) -> float:
        """The median piece's CPU milliseconds (0.0 when no piece finished)."""
        return statistics.median(self.milliseconds) if self.milliseconds else 0.0


def _print_pieces() -> None:
    """The probe process: one line per piece until terminated."""
    while True:
        print(f"{piece():.3f}", flush=True)
        time.sleep(PAUSE_SECONDS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long to watch the machine's speed")
    parser.add_argument("--pieces", action="store_true", help=argparse.SUPPRESS)  # the probe process itself
    args = parser.parse_args()
    if args.pieces:
        _print_pieces()
    with SpeedProbe() as probe:
        time.sleep(args.seconds)
    times = sorted(probe.milliseconds)
    if not times:
        print("no piece finished")
        return 1
    print(f"{len(times)} pieces of {CHUNK:,} additions over {args.seconds:.0f} s: CPU ms per piece min "
          f"{times[0]:.2f}, median {statistics.median(times):.2f}, p90 {times[9 * len(times) // 10]:.2f}, "
          f"max {times[-1]:.2f} (max/min {times[-1] / times[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
