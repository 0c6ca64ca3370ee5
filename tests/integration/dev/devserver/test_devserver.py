"""The plumbing both emulators share, over real loopback HTTP: serving, stopping, the hooks client and the
ready wait, the atomic state file, and the foreground command line of the Graph emulator."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dev.devserver.control import ControlClient, ControlError
from dev.devserver.http import JsonHTTPServer, RunningServer
from dev.devserver.persistence import write_atomically
from dev.devserver.ready import NotReadyError, answers, free_port
from dev.graph_emulator.control import GraphEmulatorControl
from tests.support.graph_emulator import make_graph_client

ROOT = Path(__file__).resolve().parents[4]
SEED = ROOT / "dev" / "devstack" / "graph_seed.json"


@dataclass
class Reply:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class EchoApp:
    """Answers ``/__echo/health`` like an emulator, ``/__echo/refuse`` with 400, anything else with what it got."""

    def __init__(self, health: str = "ok") -> None:
        self.health = health

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if target == "/__echo/health":
            return Reply(200, {"status": self.health})
        if target == "/__echo/refuse":
            return Reply(400, {"error_code": "INVALID_PARAMETER_VALUE"})
        if target == "/empty":
            return Reply(204, None, {"X-Empty": "yes"})
        if target == "/page":
            return Reply(200, {"ignored": True}, {"Content-Type": "text/html; charset=utf-8"}, b"<p>pick a user</p>")
        return Reply(200, {"method": method, "target": target, "body": body.decode()}, {"X-Echo": "1"})


class EchoControl(ControlClient):
    hooks = "/__echo"


class EchoRefused(ControlError):
    """The echo app refused a hook call."""


class TypedEchoControl(EchoControl):
    error = EchoRefused


@pytest.fixture
def echo() -> Iterator[RunningServer[EchoApp]]:
    running = RunningServer.start(JsonHTTPServer(("127.0.0.1", 0), EchoApp(), name="echo"))
    yield running
    running.stop()


def test_requests_reach_the_app_and_replies_are_json_on_one_kept_alive_connection(
    echo: RunningServer[EchoApp],
) -> None:
    host, port = echo.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request("PATCH", "/things/1?x=y", body=b'{"a": 1}', headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert (first.status, first.getheader("X-Echo")) == (200, "1")
        assert first.getheader("Content-Type") == "application/json"
        assert json.loads(first.read()) == {"method": "PATCH", "target": "/things/1?x=y", "body": '{"a": 1}'}
        kept = connection.sock
        connection.request("GET", "/empty")
        second = connection.getresponse()
        assert kept is not None and connection.sock is kept  # HTTP/1.1 keep-alive: no new connection
        assert (second.status, second.getheader("Content-Length"), second.getheader("X-Empty")) == (204, "0", "yes")
        assert second.getheader("Content-Type") is None
        assert second.read() == b""
    finally:
        connection.close()


def test_a_raw_body_goes_out_as_it_is_with_the_apps_content_type(echo: RunningServer[EchoApp]) -> None:
    host, port = echo.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request("GET", "/page")
        reply = connection.getresponse()
        assert reply.getheaders().count(("Content-Type", "text/html; charset=utf-8")) == 1
        assert [name for name, _ in reply.getheaders()].count("Content-Type") == 1
        assert reply.read() == b"<p>pick a user</p>"
    finally:
        connection.close()


def test_the_content_type_is_the_servers() -> None:
    server = JsonHTTPServer(("127.0.0.1", 0), EchoApp(), name="typed", content_type="application/json;charset=utf-8")
    running = RunningServer.start(server)
    try:
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=10)
        connection.request("GET", "/x")
        assert connection.getresponse().getheader("Content-Type") == "application/json;charset=utf-8"
        connection.close()
    finally:
        running.stop()


def test_a_wildcard_bind_is_addressed_on_loopback() -> None:
    server = JsonHTTPServer(("0.0.0.0", 0), EchoApp(), name="wildcard")
    try:
        assert server.url == f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.server_close()


def test_the_serving_thread_is_named_after_the_server_and_port(echo: RunningServer[EchoApp]) -> None:
    assert echo.thread.name == f"echo-{echo.server.server_address[1]}"
    assert echo.thread.is_alive()
    assert echo.url == echo.server.url


def test_stop_ends_the_thread_and_releases_the_port() -> None:
    running = RunningServer.start(JsonHTTPServer(("127.0.0.1", 0), EchoApp(), name="stopped"))
    port = running.server.server_address[1]
    running.stop()
    assert not running.thread.is_alive()
    assert not EchoControl(running.url, timeout=2).health()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # would raise EADDRINUSE if the server still held it


def test_leaving_the_with_block_stops_the_server() -> None:
    with RunningServer.start(JsonHTTPServer(("127.0.0.1", 0), EchoApp(), name="scoped")) as running:
        assert EchoControl(running.url).health()
    assert not running.thread.is_alive()
    assert not EchoControl(running.url, timeout=2).health()


def test_the_control_client_calls_hooks_under_its_prefix(echo: RunningServer[EchoApp]) -> None:
    control = EchoControl(echo.url + "/")
    assert control.url == echo.url
    assert control.health()
    assert control._call("POST", "seed", {"n": 1}) == {"method": "POST", "target": "/__echo/seed", "body": '{"n": 1}'}


def test_a_refused_hook_raises_the_clients_error_with_status_and_body(echo: RunningServer[EchoApp]) -> None:
    with pytest.raises(ControlError, match=r"GET /__echo/refuse: 400 .*INVALID_PARAMETER_VALUE"):
        EchoControl(echo.url)._call("GET", "refuse")
    with pytest.raises(EchoRefused, match="400"):
        TypedEchoControl(echo.url)._call("GET", "refuse")


def test_health_is_false_while_nothing_listens_and_on_a_status_other_than_ok() -> None:
    assert not EchoControl(f"http://127.0.0.1:{free_port()}", timeout=2).health()
    running = RunningServer.start(JsonHTTPServer(("127.0.0.1", 0), EchoApp(health="starting"), name="starting"))
    try:
        assert not EchoControl(running.url).health()
    finally:
        running.stop()


def test_wait_ready_returns_once_the_server_answers(echo: RunningServer[EchoApp]) -> None:
    EchoControl(echo.url).wait_ready(timeout=5)


def test_wait_ready_gives_up_at_its_deadline() -> None:
    control = EchoControl(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(NotReadyError, match=r"did not answer within 0\.2 s"):
        control.wait_ready(timeout=0.2)


def test_wait_ready_stops_as_soon_as_the_process_has_exited() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait(timeout=30)
    control = EchoControl(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(NotReadyError, match="exited with 3"):
        control.wait_ready(timeout=600, process=process)


def test_answers_is_true_only_for_a_200() -> None:
    running = RunningServer.start(JsonHTTPServer(("127.0.0.1", 0), EchoApp(), name="answers"))
    try:
        assert answers(f"{running.url}/anything")
        assert not answers(f"{running.url}/__echo/refuse")  # a 400 is an answer, but not a healthy one
    finally:
        running.stop()
    assert not answers(f"{running.url}/anything", timeout=1)  # nothing listens any more


def test_write_atomically_replaces_the_file_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.json"
    write_atomically(path, b"first")
    write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomically(path, b"kept")
    with pytest.raises(TypeError):
        write_atomically(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"kept"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_graph_emulator_command_seeds_serves_and_exits_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.graph_emulator", "--port", str(port), "--state-file", str(tmp_path / "graph.json"),
         "--seed", str(SEED)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        control = GraphEmulatorControl(f"http://127.0.0.1:{port}", timeout=10)
        control.wait_ready(timeout=30, process=process)
        # The seed is in place before the first call is served, and saved into the state file.
        served = {u["userPrincipalName"] for u in make_graph_client(control.url).items("users")}
        assert served == {u["userPrincipalName"] for u in json.loads(SEED.read_text())["users"]}
        assert (tmp_path / "graph.json").exists()
    finally:
        process.send_signal(sig)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"Graph emulator serving on http://127.0.0.1:{port}" in output
    assert f"graph_emulator stopping on {sig.name}" in output
