"""A real Azurite queue service for the suite (the npm package in `node_modules`), no Docker needed.

`azurite_connection_string` is one Azurite for the whole session; tests isolate themselves with unique
queue names. `private_azurite` is a per-test Azurite that the test may stop and start again (same port,
same data folder, so messages survive) to play "the queue is down".
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.devserver.ready import free_port
from tests.support.leftovers import keep_for_session

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_QUEUE = REPO_ROOT / "node_modules" / ".bin" / "azurite-queue"

# Azurite's well-known development account (public, from Azurite's README; not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_TIMEOUT_SECONDS = 30.0


def connection_string(port: int) -> str:
    """The development connection string for an Azurite queue endpoint on `port`."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT_NAME};"
    )


class AzuriteQueueService:
    """One `azurite-queue` process on a fixed port and data folder, which can be stopped and restarted."""

    def __init__(self, location: Path, port: int | None = None) -> None:
        self.location = location
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    @property
    def pid(self) -> int:
        """The running Azurite's process id."""
        assert self._process is not None, "Azurite is not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Azurite and return once it accepts connections."""
        if self.running:
            return
        if not AZURITE_QUEUE.exists():
            pytest.fail(f"Azurite is not installed: {AZURITE_QUEUE} is missing (run `npm install`)")
        self.location.mkdir(parents=True, exist_ok=True)
        log = (self.location / "azurite.log").open("ab")
        command = [str(AZURITE_QUEUE), "--queueHost", "127.0.0.1", "--queuePort", str(self.port)]
        command += ["--location", str(self.location), "--silent", "--skipApiVersionCheck", "--loose"]
        # Telemetry phones home and keeps the process alive after SIGTERM; without it, stop is instant.
        command += ["--disableTelemetry"]
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()  # the child holds its own handle
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = (self.location / "azurite.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Azurite exited with {self._process.returncode}:\n{output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"Azurite did not listen on port {self.port} within {STARTUP_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        """Stop Azurite (its data folder stays, so `start` brings the same messages back)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteQueueService]:
    """The suite's shared Azurite, started on first use and stopped at the end of the session."""
    with tempfile.TemporaryDirectory(prefix="sp-azurite-") as location:
        service = AzuriteQueueService(Path(location))
        service.start()
        keep_for_session(service.pid)
        try:
            yield service
        finally:
            service.stop()


@pytest.fixture(scope="session")
def azurite_connection_string(azurite: AzuriteQueueService) -> str:
    """Connection string of the suite's shared Azurite."""
    return azurite.connection_string


@pytest.fixture
def private_azurite(tmp_path: Path) -> Iterator[AzuriteQueueService]:
    """An Azurite for this test alone, running; the test may `stop()` and `start()` it."""
    service = AzuriteQueueService(tmp_path / "azurite")
    service.start()
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(service.location, ignore_errors=True)
