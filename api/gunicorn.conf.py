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
