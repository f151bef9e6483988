"""Fixtures for the container images: a Docker engine, the built images, containers.

``docker_engine`` reuses an engine that answers ($DOCKER_HOST, or the one under the
cache folder) or starts dockerd for the session and stops it at the end. ``images``
builds the debootstrap base (once, cached outside the repository) and both images (warm
builds take seconds). ``containers`` runs containers and removes them after the test.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from chronos.devcluster.cluster import Cluster
from chronos.devcluster.images import (
    BuildReport,
    Engine,
    Log,
    build_all,
    ensure_tools,
    start_engine,
)


def _terminal_log(config: pytest.Config) -> Log:
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")

    def log(line: str) -> None:
        if reporter is None or capture is None:
            print(f"[images] {line}", flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[images] {line}")

    return log


@pytest.fixture(scope="session")
def images_log(pytestconfig: pytest.Config) -> Log:
    """Progress lines shown on the terminal even while output is captured."""
    return _terminal_log(pytestconfig)


@pytest.fixture(scope="session")
def docker_engine(images_log: Log) -> Iterator[Engine]:
    ensure_tools(images_log)
    engine = start_engine(images_log)
    try:
        yield engine
    finally:
        engine.stop()  # only if this session started it


@pytest.fixture(scope="session")
def images(docker_engine: Engine, images_log: Log) -> BuildReport:
    return build_all(docker_engine, images_log)


# ------------------------------------------------------------------------ containers


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Containers:
    """Runs containers the way the Job template / the chart would: read-only, non-root."""

    engine: Engine
    names: list[str] = field(default_factory=list)

    SECURE = (
        "--network=host",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
    )

    def _args(
        self,
        name: str,
        image: str,
        env: dict[str, str],
        mounts: list[tuple[Path, str, str]],
        entrypoint: str | None,
        tmpfs: tuple[str, ...] = (),
        image_user: bool = False,
    ) -> list[str]:
        args = [f"--name={name}", *self.SECURE, *(f"--tmpfs={path}" for path in tmpfs)]
        if not image_user:
            args.append("--user=65532:65532")
        for source, target, mode in mounts:
            args.append(f"--volume={source}:{target}:{mode}")
        # Values travel in the client's environment, so no secret is on a command line.
        args += [f"--env={key}" for key in env]
        if entrypoint:
            args.append(f"--entrypoint={entrypoint}")
        return [*args, image]

    def _name(self) -> str:
        name = f"chronos-test-{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        return name

    def run(
        self,
        image: str,
        *command: str,
        env: dict[str, str] | None = None,
        mounts: list[tuple[Path, str, str]] | None = None,
        entrypoint: str | None = None,
        timeout: float = 120,
        tmpfs: tuple[str, ...] = (),
        image_user: bool = False,
    ) -> Ran:
        """Run to completion (``docker run``); returns its exit code and output.

        ``--user 65532:65532`` unless ``image_user`` (then the image's own USER applies).
        """
        env = env or {}
        args = self._args(self._name(), image, env, mounts or [], entrypoint, tmpfs, image_user)
        result = subprocess.run(
            [self.engine.cli, "run", *args, *command],
            env=self.engine.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Ran(result.returncode, result.stdout, result.stderr)

    def start(
        self,
        image: str,
        *command: str,
        env: dict[str, str] | None = None,
        mounts: list[tuple[Path, str, str]] | None = None,
        entrypoint: str | None = None,
    ) -> str:
        """Start in the background (``docker run --detach``); returns the container name."""
        env = env or {}
        name = self._name()
        args = self._args(name, image, env, mounts or [], entrypoint)
        result = subprocess.run(
            [self.engine.cli, "run", "--detach", *args, *command],
            env=self.engine.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return name

    def logs(self, name: str) -> str:
        result = self.engine.docker("logs", name, check=False)
        return result.stdout + result.stderr

    def state(self, name: str) -> tuple[bool, int]:
        """(running, exit code) of a container."""
        out = self.engine.docker(
            "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name
        ).stdout.split()
        return out[0] == "true", int(out[1])

    def stop(self, name: str, timeout: int = 30) -> int:
        """Stop with SIGTERM (then SIGKILL after ``timeout``); returns the exit code."""
        self.engine.docker("stop", f"--time={timeout}", name, timeout=timeout + 30)
        return self.state(name)[1]

    def wait_http(self, name: str, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running, code = self.state(name)
            if not running:
                raise AssertionError(f"{name} exited {code}:\n{self.logs(name)[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{url} not ready in {timeout} s:\n{self.logs(name)[-4000:]}")

    def remove_all(self) -> None:
        for name in self.names:
            self.engine.docker("rm", "--force", "--volumes", name, check=False)
        self.names.clear()


@pytest.fixture
def containers(docker_engine: Engine) -> Iterator[Containers]:
    made = Containers(docker_engine)
    try:
        yield made
    finally:
        made.remove_all()


# ------------------------------------------------------------------------ kubeconfig


KUBE_MOUNT = "/etc/chronos/kube"


def container_kubeconfig(
    cluster: Cluster,
    directory: Path,
    token: str | None = None,
    *,
    inline: bool = False,
    mount: str = KUBE_MOUNT,
) -> Path:
    """A kubeconfig folder for a container to mount read-only at ``mount``.

    With ``token`` it authenticates as that ServiceAccount token, else as the admin.
    By default the kubeconfig names files beside it (``ca.crt``, ``token`` or the client
    pair), like a pod's ServiceAccount volume; ``inline`` puts them in as ``*-data``
    instead, which lightkube writes to temporary files, so it needs a writable /tmp.
    Everything is world-readable (0644), so that user 65532 can read it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server_cluster = admin["clusters"][0]["cluster"]
    admin_user = admin["users"][0]["user"]
    files = {"ca.crt": Path(server_cluster["certificate-authority"]).read_bytes()}
    if token is not None:
        files["token"] = token.encode()
    else:
        files["client.crt"] = Path(admin_user["client-certificate"]).read_bytes()
        files["client.key"] = Path(admin_user["client-key"]).read_bytes()
    for name, data in files.items():
        (directory / name).write_bytes(data)
        os.chmod(directory / name, 0o644)

    def ref(key: str, name: str) -> dict[str, str]:
        if inline:
            return {f"{key}-data": base64.b64encode(files[name]).decode()}
        return {key: f"{mount}/{name}"}

    user: dict[str, str]
    if token is not None:
        user = {"token": token} if inline else {"tokenFile": f"{mount}/token"}
    else:
        user = {**ref("client-certificate", "client.crt"), **ref("client-key", "client.key")}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "dev",
                "cluster": {
                    "server": server_cluster["server"],
                    **ref("certificate-authority", "ca.crt"),
                },
            }
        ],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "user"}}],
        "current-context": "dev",
    }
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    os.chmod(path, 0o644)
    return directory
