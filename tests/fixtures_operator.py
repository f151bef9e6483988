"""The operator as a real process (``python -m chronos.operator``) against the control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from chronos.devcluster.cluster import Cluster, free_port

COREHUB_SECRET = "corehub-credentials"


class OperatorProcess:
    def __init__(self, cluster: Cluster, log_dir: Path, **settings: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"operator-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")},
            "KUBECONFIG": str(cluster.kubeconfig),
            "CHRONOS_COREHUB_URL": "http://127.0.0.1:9",
            "CHRONOS_COREHUB_CREDENTIALS_SECRET": COREHUB_SECRET,
            "CHRONOS_HEALTH_PORT": str(self.port),
            "CHRONOS_HEALTH_HOST": "127.0.0.1",
            "CHRONOS_LEASE_NAMESPACE": "default",
            **settings,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chronos.operator"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("operator not ready in 30 s")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            body: bytes = r.read()
            return body.decode()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


#: Namespaces the shared operator leaves alone, for tests that run operators of their own.
SOLO_PREFIX = "solo-"


@pytest.fixture(scope="session")
def operator_settings() -> dict[str, str]:
    """Fast clocks, so tests wait seconds rather than minutes."""
    return {
        "CHRONOS_NAMESPACES": f"*,!{SOLO_PREFIX}*",
        "CHRONOS_LEASE_NAME": f"chronos-test-{uuid.uuid4().hex[:6]}",
        "CHRONOS_HOUSEKEEPING_SECONDS": "3",
        "CHRONOS_MISSED_RUN_GRACE_SECONDS": "15",
        "CHRONOS_LEASE_DURATION_SECONDS": "6",
        "CHRONOS_LEASE_RENEW_SECONDS": "2",
    }


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, operator_settings: dict[str, str]
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        cluster, tmp_path_factory.mktemp("operator"), **operator_settings
    ).start()
    yield process
    process.stop()


@pytest.fixture
def solo_namespace(k8s: Client) -> Iterator[str]:
    """A namespace only the test's own operators watch, with the CoreHub Secret."""
    name = f"{SOLO_PREFIX}{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    k8s.create(
        Secret(
            metadata=ObjectMeta(name=COREHUB_SECRET, namespace=name),
            stringData={"username": "admin", "password": "secret"},
        )
    )
    yield name
    k8s.delete(Namespace, name)


@pytest.fixture
def start_operator(
    cluster: Cluster, tmp_path: Path, operator_settings: dict[str, str], solo_namespace: str
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators that watch only ``solo_namespace``; all are stopped at the end."""
    started: list[OperatorProcess] = []
    lease = f"chronos-solo-{uuid.uuid4().hex[:6]}"

    def start(**overrides: str) -> OperatorProcess:
        settings = {
            **operator_settings,
            "CHRONOS_NAMESPACES": solo_namespace,
            "CHRONOS_LEASE_NAME": lease,
            **overrides,
        }
        process = OperatorProcess(cluster, tmp_path, **settings)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop(signal.SIGKILL)
