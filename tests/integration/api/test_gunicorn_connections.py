"""The API's gunicorn settings spread keep-alive clients over its workers.

Every worker polls the one listening socket and a connection stays with the worker that accepted it, so
without a bound one worker took 15 of 16 keep-alive clients while the other idled (`bench/README.md`). These
tests run gunicorn with `api/gunicorn.conf.py` (2 workers of 2 threads) serving an app that answers with its
pid, so each answer names the worker that served it.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dev.devserver.ready import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[3]
THREADS = 2
WORKERS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WORKERS),
           "GUNICORN_THREADS": str(THREADS)}
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with log.open("wb") as output:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "api/gunicorn.conf.py", "tests.support.pid_app:app"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        seen: set[str] = set()

        def both_workers_answer() -> bool:
            try:
                seen.add(_get(port))
            except OSError:
                return False
            return len(seen) == WORKERS

        wait_until_ready(both_workers_answer, timeout=60, what=f"two gunicorn workers; log: {log}", process=master)
        yield port, master
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=30)


def _get(port: int, connection: http.client.HTTPConnection | None = None) -> str:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        if connection is None:
            conn.close()


def test_no_worker_holds_more_connections_than_twice_its_threads(server: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, master = server
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3 * THREADS * WORKERS)]
    try:
        for client in clients:  # one after another: the first worker to wake would take them all
            _get(port, client)
        held = {worker.pid: sum(1 for c in worker.net_connections(kind="tcp")
                                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
                for worker in psutil.Process(master.pid).children()}
        assert len(held) == WORKERS
        assert max(held.values()) <= 2 * THREADS, held
    finally:
        for client in clients:
            client.close()

