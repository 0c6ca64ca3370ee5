"""The images run the way production runs them: built by `make images`, configured only through environment
variables, talking to real services over the host's network.

A migration container (the API image's `alembic upgrade head`), then the API, the worker and the sync service
(the worker image with `python -m sync`) in containers, against the suite's PostgreSQL (its Unix socket
mounted into each container), Azurite, the workspace emulator, the Graph emulator and the SMTP sink. An upload
reaches COMPLETED, the activation mail lands, readiness answers 200, each image's HEALTHCHECK passes, and each
container stops on SIGTERM with its process's own exit code within its grace period.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from packaging.utils import canonicalize_name

from dev.devserver.ready import free_port
from dev.emulator.auth import DEFAULT_TOKEN
from dev.emulator.control import EmulatorControl
from dev.emulator.server import DEMO_TABLES
from dev.graph_emulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from dev.graph_emulator.control import GraphEmulatorControl
from shared.platform.db import make_engine, make_session_factory
from shared.platform.settings import Settings
from shared.queue.factory import make_queue
from tests.containers.engine import ROOT, ContainerRuntime, container_runtime
from tests.e2e.test_provisioning import pack
from tests.support.access import register_tenant
from tests.support.graph_emulator import GRAPH_TENANT
from tests.support.postgres import fresh_database_url
from tests.support.smtp import SmtpServer
from tests.support.waiting import wait_for

API_KEY = "containers-api-key-0123456789abcdef0123"
SOCKET_DIR_IN_CONTAINER = "/run/postgresql"
# Each process's grace period: Container Apps and compose give 30 s before SIGKILL.
GRACE_SECONDS = 30


@pytest.fixture(scope="module")
def runtime() -> Iterator[ContainerRuntime]:
    with container_runtime() as runtime:
        yield runtime


def lock_names() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {canonicalize_name(m[1]) for line in lines if (m := re.match(r"^([A-Za-z0-9][\w.-]*)==", line))}


@pytest.mark.parametrize("image", ["api", "worker"])
def test_image_runs_as_non_root_with_exactly_the_locked_packages(runtime: ContainerRuntime, image: str, tmp_path: Path):
    """No test runner, linter, embedded database or installer ships: the image has requirements.lock's
    distributions and nothing else (pip and setuptools stay in the build stage)."""
    listing = (
        "import importlib.metadata as m, os; print(os.getuid()); "
        "print(*sorted(d.metadata['Name'] for d in m.distributions()))"
    )
    name = runtime.run(runtime.image(image), {}, tmp_path, command=["python", "-c", listing], detach=False)
    uid, names = runtime.logs(name).strip().splitlines()[-2:]
    assert uid != "0"
    assert {canonicalize_name(n) for n in names.split()} == lock_names()


def socket_mount(server_url: str) -> tuple[str, str]:
    """The embedded PostgreSQL listens on a Unix socket only: mount that socket into the container (its data
    directory stays private) and return (mount, socket directory inside the container)."""
    socket_dir = parse_qs(urlsplit(server_url).query)["host"][0]
    socket = f"{socket_dir}/.s.PGSQL.5432"
    assert Path(socket).is_socket(), socket
    return f"{socket}:{SOCKET_DIR_IN_CONTAINER}/.s.PGSQL.5432", SOCKET_DIR_IN_CONTAINER


def test_the_whole_path_through_containers(
    runtime: ContainerRuntime,
    postgres_server_url: str,
    azurite_connection_string: str,
    emulator: EmulatorControl,
    graph: GraphEmulatorControl,
    smtp_server: SmtpServer,
    tmp_path: Path,
):
    database_url = fresh_database_url(postgres_server_url, prefix="containers")
    mount, socket_dir = socket_mount(postgres_server_url)
    database = urlsplit(database_url).path.lstrip("/")
    api_port, worker_metrics, sync_metrics = free_port(), free_port(), free_port()
    emulator.seed_tables(DEMO_TABLES)
    common = {
        "DOMAIN_DB_CONNECTION_STRING": f"postgresql://postgres@/{database}?host={socket_dir}",
        "AZURE_QUEUE_CONNECTION_STRING": azurite_connection_string,
        "AZURE_QUEUE_NAME": f"containers-{uuid.uuid4().hex[:12]}",
        "QUEUE_BACKEND": "azure",
        "DEV_WORKSPACE_URLS": emulator.url,
        "DATABRICKS_TOKEN": DEFAULT_TOKEN,
        "ACTIVATION_LINK_KEYS": Fernet.generate_key().decode(),
    }
    api_env = {
        **common,
        "API_KEYS": f"containers={API_KEY}",
        "ADMIN_PRINCIPALS": "containers",
        "CONSOLE_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "GUNICORN_BIND": f"127.0.0.1:{api_port}",
        "WEB_CONCURRENCY": "1",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "0.5",
    }
    worker_env = {
        **common,
        "METRICS_PORT": str(worker_metrics),
        "POLL_INTERVAL_SECONDS": "0.2",
        "VISIBILITY_TIMEOUT_SECONDS": "6",
        "DATABRICKS_RETRY_TIMEOUT_SECONDS": "15",
    }
    sync_env = {
        **common,
        "METRICS_PORT": str(sync_metrics),
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "NOTIFICATION_FROM": "sharepack@workflow.example",
        "OPERATOR_EMAILS": "operators@workflow.example",
        "CONSOLE_BASE_URL": "https://sharepack.workflow.example",
        "SYNC_SCHEDULE_NOTIFICATIONS": "1",
        "SYNC_TICK_SECONDS": "0.2",
        "AZURE_TENANT_ID": GRAPH_TENANT,
        "GRAPH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "GRAPH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "GRAPH_BASE_URL": graph.url,
        "GRAPH_AUTHORITY_HOST": graph.url,
    }

    # Migrations run once per release, from the API image (Terraform's migrate job, compose's migrate service).
    migrate_env = {"DOMAIN_DB_CONNECTION_STRING": common["DOMAIN_DB_CONNECTION_STRING"]}
    migrate = runtime.run(runtime.image("api"), migrate_env, tmp_path, command=["alembic", "upgrade", "head"],
                         mounts=[mount], detach=False)
    assert runtime.exit_code(migrate) == 0, runtime.logs(migrate)

    host_engine = make_engine(database_url)
    try:
        register_tenant(make_session_factory(host_engine), {"EMEA": emulator.url})
        settings = Settings.from_env({k.lower(): v for k, v in common.items()}, dotenv_path=None)
        make_queue(settings, host_engine).ensure_exists()
    finally:
        host_engine.dispose()

    containers = {
        "api": runtime.run(runtime.image("api"), api_env, tmp_path, mounts=[mount]),
        "worker": runtime.run(runtime.image("worker"), worker_env, tmp_path, mounts=[mount]),
        "sync": runtime.run(runtime.image("worker"), sync_env, tmp_path, command=["python", "-m", "sync"],
                           mounts=[mount]),
    }

    def logs() -> str:
        return "\n".join(f"--- {role}\n{runtime.logs(name)}" for role, name in containers.items())

    api = f"http://127.0.0.1:{api_port}"
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Workspace-URL": emulator.url}

    def answers(path: str) -> requests.Response | None:
        try:
            return requests.get(api + path, headers=headers, timeout=30)
        except requests.RequestException:  # not listening yet
            return None

    try:
        ready = wait_for(lambda: (r := answers("/workflow/health/ready")) is not None and r.status_code == 200 and r,
                         timeout=120, what="the API container's readiness (it needs the worker's heartbeat)")
        assert ready.status_code == 200

        upload = requests.post(api + "/workflow/sharepack/upload", headers=headers, timeout=30,
                               files={"file": ("pack.yaml", pack().encode())})
        assert upload.status_code == 202, upload.text
        share_pack_id = upload.json()["SharePackId"]
        status = wait_for(
            lambda: (r := answers(f"/workflow/sharepack/{share_pack_id}")) is not None
            and r.json()["Status"] in ("COMPLETED", "FAILED") and r.json(),
            timeout=120, what="the pack's final status",
        )
        assert status["Status"] == "COMPLETED", status

        messages = smtp_server.mailbox.wait_for(2, timeout=120)
        by_type = {m["X-Notification-Type"]: m for m in messages}
        assert by_type["RECIPIENT_ACTIVATION"]["To"] == "data@acme.example.com"
        assert "retrieve_config.html?" in by_type["RECIPIENT_ACTIVATION"].get_body(("plain",)).get_content()

        for role, name in containers.items():
            assert wait_for(lambda name=name: runtime.healthy(name), timeout=120, poll_seconds=2,
                            what=f"the {role} container's HEALTHCHECK"), role
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs()}") from None

    # SIGTERM, then SIGKILL after the grace period: each process must be gone well before, with its own code.
    for role, name in containers.items():
        started = time.monotonic()
        runtime("stop", "--time", str(GRACE_SECONDS), name, timeout=GRACE_SECONDS + 30)
        took = time.monotonic() - started
        assert not runtime.running(name)
        assert runtime.exit_code(name) == 0, f"{role} exited {runtime.exit_code(name)}\n{runtime.logs(name)}"
        assert took < GRACE_SECONDS, f"{role} took {took:.1f} s to stop"
