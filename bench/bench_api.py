"""Upload throughput and latency of the API under 16 concurrent clients, against its own ceiling.

Starts what production runs, on this machine: the embedded PostgreSQL (migrated), Azurite (the Azure
Storage Queue emulator) and gunicorn serving `api.wsgi:app`. Then 16 client threads upload the example
share pack as fast as they can for a fixed time, and, in the same run, call the liveness endpoint (no
database, no queue: the ceiling of this server on this machine). Afterwards it checks that every accepted
upload is a stored share pack and a queue message: rows == messages == uploads.

    .venv/bin/python bench/bench_api.py [--seconds 20] [--clients 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devserver.ready import NotReadyError, answers, wait_until_ready  # noqa: E402
from shared.db import make_session_factory  # noqa: E402
from shared.embedded_postgres import start_embedded_postgres  # noqa: E402
from shared.queue.factory import make_queue  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.fixtures.access import register_tenant  # noqa: E402
from tests.fixtures.azurite import AzuriteQueueService  # noqa: E402
from tests.fixtures.postgres import migrated_database_url  # noqa: E402

API_KEY = "bench-api-key-0123456789abcdef01234"
WORKSPACE = "http://127.0.0.1:8001"
BOUNDARY = "sharepackbench"


def multipart(content: bytes, filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        f"Content-Type: application/x-yaml\r\n\r\n"
    ).encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def load(port: int, *, method: str, path: str, body: bytes | None, clients: int, seconds: float) -> dict:
    """Run `clients` threads, each on its own keep-alive connection, for `seconds`; return latencies."""
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": WORKSPACE}
    if body is not None:
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: dict[int, int] = {}
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,
    }


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


def wait_healthy(port: int, timeout: float = 60) -> None:
    try:
        wait_until_ready(lambda: answers(f"http://127.0.0.1:{port}/workflow/health"), timeout=timeout, what="gunicorn")
    except NotReadyError as exc:
        raise SystemExit(str(exc)) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--queue", choices=("azure", "postgres"), default="azure", help="queue backend")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sp-bench-", dir="/tmp") as tmp:
        server = start_embedded_postgres(Path(tmp) / "pg")
        database_url = migrated_database_url(server, prefix="bench")
        # Uploads are admitted only for a registered business line and its workspace (issue 9).
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
            load(port, method="POST", path="/workflow/sharepack/upload", body=body, clients=4, seconds=2)  # warm-up
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
