"""gunicorn settings for the API, read from the environment so containers need no other file."""

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Every worker polls the one listening socket and the first to wake accepts; with keep-alive a connection then
# stays with that worker. With 16 keep-alive clients on `make run`, one worker held 15 connections and answered
# at p50 153 ms while the other held 1 and answered at 17 ms. gthread stops accepting at `worker_connections`
# and closes a response's connection once `worker_connections - threads` others wait idle
# (https://docs.gunicorn.org/en/stable/settings.html#worker-connections): at twice the threads a worker keeps
# at most as many idle connections as it has threads, a client told to close reconnects to whichever worker
# accepts first, and a connection beyond every worker's share waits in the listen backlog about a request's
# time. Clients reach the API through the platform's ingress (deploy/azure/apps.tf), not directly.
# `GUNICORN_WORKER_CONNECTIONS` sets it for a known number of clients (`make run`: dev/devstack/__main__.py).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", str(2 * threads)))
# Recycle workers now and then so a slow leak cannot grow without bound; jitter avoids a thundering herd.
max_requests = 5000
max_requests_jitter = 500
# No preload: each worker builds its own engine after the fork (connection pools must not be shared).
preload_app = False
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

# prometheus-client multiprocess mode: each worker writes its samples to files in this directory and
# /metrics merges them (https://prometheus.github.io/client_python/multiprocess/). It must be set before any
# worker imports prometheus_client, and start empty: files of a previous run would be counted again.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"sharepack-prometheus-{os.getpid()}")
)


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
