"""The container runtime the tests drive: podman with the settings `make images` wrote, or a running docker.

Both take the same commands here (run, stop, inspect, logs, rm); podman reads runc, cgroupfs and the ulimits
from `.local/images/containers.conf` (deploy/images/build.sh writes it), without which it cannot run
containers on these machines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / ".local" / "images" / "containers.conf"
IMAGE_TAG = os.environ.get("IMAGE_TAG", "local")


def find_runtime() -> str | None:
    """`CONTAINER_ENGINE` if set; else docker when its daemon answers; else podman; else None."""
    if os.environ.get("CONTAINER_ENGINE"):
        return os.environ["CONTAINER_ENGINE"]
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        return "docker"
    return "podman" if shutil.which("podman") else None


@dataclass
class ContainerRuntime:
    name: str
    started: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        if self.name == "podman":
            return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        return dict(os.environ)

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.name, *args], capture_output=True, text=True, timeout=timeout, check=False,
                                env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    def image(self, name: str) -> str:
        """The tag `make images` gave image `name`; the test fails (not skips) when it was not built."""
        reference = f"sharepack-{name}:{IMAGE_TAG}"
        if self("image", "inspect", reference, check=False).returncode != 0:
            pytest.fail(f"image {reference} is missing: run `make images` first")
        return reference

    def run(self, image: str, env: Mapping[str, str], env_dir: Path, *, command: Sequence[str] = (),
            mounts: Sequence[str] = (), detach: bool = True) -> str:
        """Start a container on the host's network, configured only through `env` (an env file, so no secret
        is on a command line); return its name."""
        name = f"sp-test-{uuid.uuid4().hex[:10]}"
        env_file = env_dir / f"{name}.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        volumes = [arg for mount in mounts for arg in ("-v", mount)]
        self.started.append(name)
        self("run", *(["-d"] if detach else []), "--name", name, "--network", "host", "--env-file", str(env_file),
             *volumes, image, *command, timeout=300)
        return name

    def exit_code(self, name: str) -> int:
        return int(self("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())

    def running(self, name: str) -> bool:
        return self("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"

    def logs(self, name: str) -> str:
        result = self("logs", name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def healthy(self, name: str) -> bool:
        """Run the image's HEALTHCHECK now (podman); docker runs it on its own schedule, so read the status."""
        if self.name == "podman":
            return self("healthcheck", "run", name, check=False, timeout=60).returncode == 0
        return self("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip() == "healthy"

    def remove_all(self) -> None:
        for name in self.started:
            self("rm", "--force", name, check=False)
        self.started.clear()


@contextmanager
def container_runtime() -> Iterator[ContainerRuntime]:
    name = find_runtime()
    if name is None:
        pytest.skip("neither podman nor a running docker is installed (make install installs podman on Debian)")
    if name == "podman" and not CONTAINERS_CONF.is_file():
        pytest.fail(f"{CONTAINERS_CONF} is missing: run `make images` first (it writes podman's settings)")
    runtime = ContainerRuntime(name)
    try:
        yield runtime
    finally:
        runtime.remove_all()
