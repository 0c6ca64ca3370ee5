"""Upload throughput and latency of the API under 16 concurrent clients, against its own ceiling.

Starts what production runs, on this machine: the embedded PostgreSQL (migrated), Azurite (the Azure
Storage Queue emulator) and gunicorn serving `api.wsgi:app`. Then 16 client threads upload the example
share pack as fast as they can for a fixed time, and, in the same run, call the liveness endpoint (no
database, no queue: the ceiling of this server on this machine). Afterwards it checks that every accepted
upload is a stored share pack and a queue message: rows == messages == uploads.

    .venv/bin/python -m bench.bench_api [--seconds 20] [--clients 16] [--workers 4]

`--stack devstack` measures instead what a new user gets from `make run`: the whole local stack (`python -m
dev.devstack`: API with pre-flight and the Azure AD check on, workspace and Graph emulators, worker, sync
service, mail server), moved aside to free ports and a temporary home, its per-key rate limit raised (one key
sends every upload). Besides the rates it reports the API's CPU per upload (every gunicorn process's CPU time
over the upload run) and the workspace and Graph calls per upload (the emulators' request logs; the workspace
calls split by user agent into the API's and the worker's). `--tree DIR` runs another checkout's stack the
same way (the baseline), and `--runs N` alternates N rounds of this tree and the baseline, printing each run
and the medians. After the uploads it also reports the backlog they left: the packs still queued and how fast
the worker provisioned them (over at most 45 s); worker and sync service are then stopped (SIGSTOP) while the
liveness ceiling is measured. During the uploads `bench.machine_speed` times a fixed piece of work at the lowest
priority: its median says how fast the machine's cores were in that run (they move by half from minute to
minute), and the API's CPU per upload is also given in those pieces, which compare across runs.

    .venv/bin/python -m bench.bench_api --stack devstack [--seconds 20] [--runs 3] [--tree /tmp/main]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import closed_loop
from bench.machine_speed import SpeedProbe
from dev.devserver.ready import NotReadyError, answers, wait_until_ready
from shared.platform.db import make_session_factory
from shared.platform.embedded_postgres import start_embedded_postgres
from shared.platform.settings import Settings
from shared.queue.factory import make_queue
from tests.support.access import register_tenant
from tests.support.azurite import AzuriteQueueService
from tests.support.postgres import migrated_database_url

ROOT = Path(__file__).resolve().parents[1]

API_KEY = "bench-api-key-0123456789abcdef01234"
WORKSPACE = "http://127.0.0.1:8001"
BOUNDARY = "sharepackbench"


def multipart(content: bytes, filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        f"Content-Type: application/x-yaml\r\n\r\n"
    ).encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def load(port: int, *, method: str, path: str, body: bytes | None, clients: int, seconds: float,
         headers: dict[str, str] | None = None) -> dict:
    """`clients` keep-alive connections for `seconds` (`bench.closed_loop`); return the rate and latencies."""
    headers = dict(headers or {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": WORKSPACE})
    if body is not None:
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
    return closed_loop.load(port, method=method, path=path, body=body, headers=headers, clients=clients,
                            seconds=seconds)


def warm_up(port: int, body: bytes, *, clients: int, headers: dict[str, str] | None = None) -> None:
    """Uploads for 2 s from as many clients as the load will have, before any clock starts.

    As many, not fewer: a kept-alive connection stays with the gunicorn process that accepted it, so with fewer
    clients some processes served nothing, and their first uploads made their database connections, workspace
    client and caches inside the measurement.
    """
    load(port, method="POST", path="/workflow/sharepack/upload", body=body, clients=clients, seconds=2,
         headers=headers)


def wait_published(database_url: str, timeout: float = 30) -> float:
    """Seconds until the API's publishers have sent every committed upload (the outbox is empty)."""
    engine = create_engine(database_url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                if not conn.scalar(text("SELECT count(*) FROM workflow_runtime.outbox WHERE published_at IS NULL")):
                    break
            time.sleep(0.1)
    finally:
        engine.dispose()
    return time.monotonic() - started


BACKLOG_WINDOW_SECONDS = 45


def backlog(database_url: str, window: float = BACKLOG_WINDOW_SECONDS) -> dict[str, float]:
    """After the uploads: how many packs were still queued, and how fast the worker provisioned them over at
    most ``window`` seconds (until none was left). The uploads are only half the work; this is the other half."""
    engine = create_engine(database_url)
    waiting = text("SELECT count(*) FROM deltashare.share_packs "
                   "WHERE is_current AND share_pack_status = 'IN_PROGRESS'")
    try:
        with engine.connect() as conn:
            queued = left = conn.scalar(waiting)
        started = time.monotonic()
        while left and time.monotonic() - started < window:
            time.sleep(0.5)
            with engine.connect() as conn:
                left = conn.scalar(waiting)
        elapsed = time.monotonic() - started
    finally:
        engine.dispose()
    return {"queued": queued, "left": left, "seconds": elapsed, "per_second": (queued - left) / max(elapsed, 1e-9)}


def wait_healthy(port: int, timeout: float = 60) -> None:
    try:
        wait_until_ready(lambda: answers(f"http://127.0.0.1:{port}/workflow/health"), timeout=timeout, what="gunicorn")
    except NotReadyError as exc:
        raise SystemExit(str(exc)) from None


DEVSTACK_KEY = "local-dev-key-0123456789abcdef0123"
DEVSTACK_PORTS = ("API", "EMULATOR", "GRAPH", "WORKER_METRICS", "SYNC_METRICS", "SMTP")


def devstack_run(tree: Path, *, seconds: float, clients: int, profile: Path | None = None) -> dict:
    """Start `python -m dev.devstack` of ``tree`` aside, measure liveness then uploads, stop it; return the figures."""
    import psutil

    from dev.devserver.ready import free_port
    from dev.emulator.control import EmulatorControl
    from dev.graph_emulator.control import GraphEmulatorControl

    with tempfile.TemporaryDirectory(prefix="sp-bench-stack-", dir="/tmp") as home:
        ports = {name: free_port() for name in DEVSTACK_PORTS}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_", "DEVSTACK_"))}
        env |= {f"DEVSTACK_{name}_PORT": str(port) for name, port in ports.items()}
        env |= {"DEVSTACK_HOME": home, "PYTHONPATH": str(tree)}
        # One key sends every upload: the default limit (1,200 a minute per API process) would answer 429 from
        # ~40 uploads/s on, and a 429 costs almost nothing. This measures uploads, not the limiter.
        env |= {"API_KEY_REQUESTS_PER_MINUTE": "1000000"}
        api, workspace = f"http://127.0.0.1:{ports['API']}", f"http://127.0.0.1:{ports['EMULATOR']}"
        background: list[psutil.Process] = []
        with open(Path(home) / "stack.log", "wb") as output:
            stack = subprocess.Popen([sys.executable, "-m", "dev.devstack"], cwd=tree, env=env, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_ready(lambda: answers(f"{api}/workflow/health"), timeout=120, what="the stack",
                             process=stack)
            # The background has started too (its metrics answer once its imports and set-up are done):
            # otherwise the worker's and sync service's start-up, seconds of CPU behind the API at low priority,
            # would be counted as the uploads' cost.
            for name in ("WORKER_METRICS", "SYNC_METRICS"):
                wait_until_ready(lambda n=name: answers(f"http://127.0.0.1:{ports[n]}/metrics"), timeout=120,
                                 what=f"the stack's {name.lower().replace('_', ' ')}", process=stack)
            port = ports["API"]
            body = multipart((ROOT / "examples" / "sample_sharepack.yaml").read_bytes(), "sample_sharepack.yaml")
            headers = {"Authorization": f"Bearer {DEVSTACK_KEY}", "X-Workspace-URL": workspace}
            warm_up(port, body, clients=clients, headers=headers)
            master = next(p for p in psutil.Process(stack.pid).children() if "gunicorn" in " ".join(p.cmdline()))
            gunicorn = master.children()
            workspace_log = EmulatorControl(workspace)
            graph_log = GraphEmulatorControl(f"http://127.0.0.1:{ports['GRAPH']}")
            workspace_before, graph_before = len(workspace_log.requests()), len(graph_log.requests())
            cpu_before = gunicorn_cpu(master)
            others_before = component_cpu(stack.pid, Path(home) / "postgres")
            spies = [subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking",
                                       "--gil", "--format", "raw", "--duration", str(int(seconds)), "--pid", str(p.pid),
                                       "--output", str(profile / f"{tree.name}-{p.pid}.txt")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for p in gunicorn] if profile else []
            with SpeedProbe() as speed:
                uploads = load(port, method="POST", path="/workflow/sharepack/upload", body=body, clients=clients,
                               seconds=seconds, headers=headers)
            cpu = gunicorn_cpu(master) - cpu_before
            others_after = component_cpu(stack.pid, Path(home) / "postgres")
            others = {k: v - others_before.get(k, 0.0) for k, v in others_after.items()}
            for spy in spies:
                spy.wait(timeout=60)
            drain = backlog(f"postgresql+psycopg://postgres@/postgres?host={Path(home) / 'postgres'}")
            # The background stands still while the ceiling is measured (stopped, not ended: the stack stops
            # everything when one of its processes exits), so both trees' ceilings are the API's alone.
            background += [p for p in psutil.Process(stack.pid).children()
                           if p.cmdline()[1:3] in (["-m", "worker"], ["-m", "sync"])]
            for process in background:
                process.suspend()
            calls = workspace_log.requests()[workspace_before:]
            graph_calls = [r for r in graph_log.requests()[graph_before:] if "delta" not in r.get("path", "")]
            # The ceiling after the uploads: its thousands of requests would otherwise reach gunicorn's
            # `max_requests` during the uploads, whose CPU would then count a worker's restart.
            ceiling = load(port, method="GET", path="/workflow/health/live", body=None, clients=clients,
                           seconds=seconds, headers=headers)
        finally:
            for process in background:
                with suppress(psutil.NoSuchProcess):
                    process.resume()  # a stopped process would not act on the SIGTERM below
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=60)
    accepted = uploads["statuses"].get(202, 0)
    by_api = sum("sharepack-api" in c.get("headers", {}).get("user-agent", "") for c in calls)
    cpu_ms = cpu * 1000 / max(1, uploads["requests"])
    return {
        "uploads": uploads, "ceiling": ceiling, "accepted": accepted,
        "cpu_ms": cpu_ms,
        "stack_cpu_ms": {k: v * 1000 / max(1, uploads["requests"]) for k, v in others.items()},
        "api_calls": by_api / max(1, uploads["requests"]),
        "worker_calls": (len(calls) - by_api) / max(1, uploads["requests"]),
        "graph_calls": len(graph_calls) / max(1, uploads["requests"]),
        "drain": drain,
        "piece_ms": speed.median_ms,
        # The API's CPU per upload in pieces of the probe's work: comparable across runs (0.0: no piece finished).
        "cpu_pieces": cpu_ms / speed.median_ms if speed.median_ms else 0.0,
    }


def gunicorn_cpu(master: Any) -> float:
    """CPU seconds of gunicorn so far: the master, its running workers, and the workers it has reaped
    (a worker is replaced after `max_requests`; its time then counts in the master's children times)."""
    import psutil

    total = sum(master.cpu_times()[:4])
    for worker in master.children():
        with suppress(psutil.NoSuchProcess):
            total += sum(worker.cpu_times()[:2])
    return total


COMPONENTS = ("graph_emulator", "emulator", "gunicorn", "worker", "sync", "mailserver")


def component_cpu(stack_pid: int, data_dir: Path) -> dict[str, float]:
    """CPU seconds so far of each part of the stack (PostgreSQL runs detached: found by its data directory)."""
    import psutil

    from dev.devstack.lifeline import postmaster_pid

    seconds: dict[str, float] = {}
    processes = [("stack", p) for p in psutil.Process(stack_pid).children(recursive=True)
                 if "gunicorn" not in " ".join(p.cmdline())]
    if (postmaster := postmaster_pid(data_dir)) is not None:
        server = psutil.Process(postmaster)
        processes += [("postgres", p) for p in [server, *server.children(recursive=True)]]
    for kind, process in processes:
        try:
            command = " ".join(process.cmdline())
            used = sum(process.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
        name = kind if kind == "postgres" else next((c for c in COMPONENTS if c in command), "other")
        seconds[name] = seconds.get(name, 0.0) + used
    for master in psutil.Process(stack_pid).children():
        if "gunicorn" in " ".join(master.cmdline()):
            seconds["gunicorn"] = gunicorn_cpu(master)
    return seconds


def devstack_rounds(baseline: Path | None, *, seconds: float, clients: int, runs: int,
                    profile: Path | None = None) -> int:
    """Alternate this tree and ``baseline`` for ``runs`` rounds; print each run and the medians."""
    trees = [("this", ROOT)] + ([("baseline", baseline.resolve())] if baseline else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in trees}
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; `make run` stack; {clients} clients "
          f"keep-alive; {seconds:.0f} s per endpoint; example YAML pack", flush=True)
    for round_ in range(1, runs + 1):
        for name, tree in (trees if round_ % 2 else trees[::-1]):
            result = devstack_run(tree, seconds=seconds, clients=clients, profile=profile)
            results[name].append(result)
            print(f"round {round_} {name:>8}: {describe(result)}", flush=True)
    for name, _ in trees:
        print(f"median   {name:>8}: {describe(median_of(results[name]))}")
    mine = median_of(results["this"])
    if baseline:
        theirs = median_of(results["baseline"])
        print(f"ratio this/baseline: uploads/s {mine['uploads']['per_second'] / theirs['uploads']['per_second']:.2f}x"
              f", p99 {mine['uploads']['p99_ms'] / theirs['uploads']['p99_ms']:.2f}x, uploads/health "
              f"{share(mine) / share(theirs):.2f}x, CPU per upload {mine['cpu_ms'] / theirs['cpu_ms']:.2f}x"
              + (f" (in probe pieces {mine['cpu_pieces'] / theirs['cpu_pieces']:.2f}x)"
                 if mine["cpu_pieces"] and theirs["cpu_pieces"] else ""))
    errors = sum(r["uploads"]["requests"] - r["accepted"] for r in results["this"])
    goals = mine["uploads"]["per_second"] >= 150 and mine["uploads"]["p99_ms"] <= 150 and errors == 0
    print(f"goals (>= 150 uploads/s, p99 <= 150 ms, zero errors): {'met' if goals else 'NOT met'}")
    return 0 if goals else 1


def share(result: dict) -> float:
    return result["uploads"]["per_second"] / result["ceiling"]["per_second"]


def describe(r: dict) -> str:
    u = r["uploads"]
    return (f"uploads {u['per_second']:6.1f}/s p50 {u['p50_ms']:6.1f} ms p99 {u['p99_ms']:6.1f} ms | liveness "
            f"{r['ceiling']['per_second']:6.0f}/s | uploads/health {share(r):.3f} | API CPU {r['cpu_ms']:5.1f} ms"
            f"/upload | workspace calls/upload API {r['api_calls']:.2f} worker {r['worker_calls']:.2f} | Graph "
            f"{r['graph_calls']:.2f} | statuses {u['statuses']}"
            + (f"\n    machine: a probe's piece of work took {r['piece_ms']:.2f} ms of CPU (median; the lower, the "
               f"faster the cores were); API CPU per upload {r['cpu_pieces']:.2f} pieces" if r.get("piece_ms") else "")
            + (f"\n    CPU ms per upload by part: {by_part(r['stack_cpu_ms'])}" if "stack_cpu_ms" in r else "")
            + (f"\n    backlog: {r['drain']['queued']:.0f} packs queued when the uploads stopped; the worker "
               f"provisioned {r['drain']['per_second']:.1f} packs/s, {r['drain']['left']:.0f} left after "
               f"{r['drain']['seconds']:.0f} s" if "drain" in r else ""))


def by_part(cpu_ms: dict[str, float]) -> str:
    return ", ".join(f"{part} {ms:.1f}" for part, ms in sorted(cpu_ms.items()))


def median_of(results: list[dict]) -> dict:
    """Each figure's median over the runs (statuses summed)."""
    def med(get: Callable[[dict], float]) -> float:
        return statistics.median(get(r) for r in results)

    statuses: dict[int, int] = {}
    for r in results:
        for code, count in r["uploads"]["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "uploads": {key: med(lambda r, k=key: r["uploads"][k]) for key in ("per_second", "p50_ms", "p99_ms")}
        | {"statuses": statuses},
        "ceiling": {"per_second": med(lambda r: r["ceiling"]["per_second"])},
        "accepted": sum(r["accepted"] for r in results),
        **{key: med(lambda r, k=key: r[k]) for key in ("cpu_ms", "api_calls", "worker_calls", "graph_calls",
                                                        "piece_ms", "cpu_pieces")},
        "stack_cpu_ms": {part: med(lambda r, p=part: r["stack_cpu_ms"].get(p, 0.0))
                         for part in sorted({p for r in results for p in r["stack_cpu_ms"]})},
        "drain": {key: med(lambda r, k=key: r["drain"].get(k, 0.0))
                  for key in sorted({k for r in results for k in r["drain"]})},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--queue", choices=("azure", "postgres"), default="azure", help="queue backend")
    parser.add_argument("--stack", choices=("api", "devstack"), default="api",
                        help="api: gunicorn on PostgreSQL + Azurite; devstack: the whole `make run` stack")
    parser.add_argument("--tree", type=Path, help="devstack: also measure this checkout, alternating rounds")
    parser.add_argument("--runs", type=int, default=1, help="devstack: rounds (median reported)")
    parser.add_argument("--profile", type=Path, help="devstack: py-spy each API worker during the uploads into DIR")
    args = parser.parse_args()
    if args.stack == "devstack":
        return devstack_rounds(args.tree, seconds=args.seconds, clients=args.clients, runs=args.runs,
                               profile=args.profile)

    with tempfile.TemporaryDirectory(prefix="sp-bench-", dir="/tmp") as tmp:
        server = start_embedded_postgres(Path(tmp) / "pg")
        database_url = migrated_database_url(server, prefix="bench")
        # Uploads are admitted only for a registered business line and its workspace.
        register_tenant(make_session_factory(create_engine(database_url)), {"EMEA": WORKSPACE})
        azurite = AzuriteQueueService(Path(tmp) / "azurite")
        azurite.start()
        queue_name = f"bench-{uuid.uuid4().hex[:8]}"
        port = 18000 + os.getpid() % 1000
        env = {
            **os.environ,
            "DOMAIN_DB_CONNECTION_STRING": database_url,
            "QUEUE_BACKEND": args.queue,
            "AZURE_QUEUE_CONNECTION_STRING": azurite.connection_string,
            "AZURE_QUEUE_NAME": queue_name,
            "API_KEYS": f"bench={API_KEY}",
            "API_KEY_REQUESTS_PER_MINUTE": "1000000",  # the benchmark is one key at full speed
            "ADMIN_PRINCIPALS": "bench",
            "DEV_WORKSPACE_URLS": WORKSPACE,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(args.workers),
        }
        queue = make_queue(Settings.from_env({k.lower(): v for k, v in env.items() if k.isupper()}, dotenv_path=None),
                           create_engine(database_url.replace("+psycopg", "+psycopg")), name=queue_name)
        queue.ensure_exists()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "api/gunicorn.conf.py", "--access-logfile", "/dev/null",
             "api.wsgi:app"],
            cwd=ROOT, env=env,
        )
        try:
            wait_healthy(port)
            body = multipart((ROOT / "examples" / "sample_sharepack.yaml").read_bytes(), "sample_sharepack.yaml")
            warm_up(port, body, clients=args.clients)
            ceiling = load(port, method="GET", path="/workflow/health/live", body=None, clients=args.clients,
                           seconds=args.seconds)
            uploads = load(port, method="POST", path="/workflow/sharepack/upload", body=body, clients=args.clients,
                           seconds=args.seconds)
            drain_seconds = wait_published(database_url)
        finally:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)

        engine = create_engine(database_url)
        with engine.connect() as conn:
            rows = conn.scalar(text("SELECT count(*) FROM deltashare.share_packs WHERE version = 1"))
            published = conn.scalar(text("SELECT count(*) FROM workflow_runtime.outbox WHERE published_at IS NOT NULL"))
        engine.dispose()
        messages = queue.approximate_count()
        azurite.stop()

    accepted = uploads["statuses"].get(202, 0) + 0
    warmup_and_run = rows  # the warm-up's uploads are stored too
    print(f"machine: {os.cpu_count()} cores; gunicorn {args.workers} workers x 4 threads; {args.clients} clients; "
          f"{args.seconds:.0f} s per endpoint; PostgreSQL (embedded) + Azurite")
    for name, result in (("liveness (ceiling)", ceiling), ("upload", uploads)):
        print(f"{name:>18}: {result['per_second']:7.1f} req/s  p50 {result['p50_ms']:6.1f} ms  "
              f"p99 {result['p99_ms']:6.1f} ms  statuses {result['statuses']}")
    print(f"upload / ceiling throughput ratio: {uploads['per_second'] / ceiling['per_second']:.2f}")
    errors = sum(count for code, count in uploads["statuses"].items() if code != 202)
    print(f"accepted uploads {accepted} (+ warm-up) | share pack rows {warmup_and_run} | outbox published "
          f"{published} | queue messages {messages} | errors {errors} | outbox drained {drain_seconds:.1f} s "
          "after the last upload")
    consistent = rows == published == messages
    goals = uploads["per_second"] >= 150 and uploads["p99_ms"] <= 150 and errors == 0 and consistent
    print(f"goals (>= 150 uploads/s, p99 <= 150 ms, zero errors, rows == messages == uploads): "
          f"{'met' if goals else 'NOT met'}")
    return 0 if goals else 1


if __name__ == "__main__":
    sys.exit(main())
