"""The operator as a real process (``python -m chronos.operator``) against the control plane."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from builders import secret
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess

COREHUB_SECRET = "corehub-credentials"
#: The shared test operator's CoreHub settings; the session's admission policies get the
#: same (their parameter, the operator's settings ConfigMap).
COREHUB_SETTINGS = {
    "CHRONOS_COREHUB_URL": "http://127.0.0.1:9",
    "CHRONOS_COREHUB_CREDENTIALS_SECRET": COREHUB_SECRET,
}


#: Namespaces the shared operator leaves alone, for tests that run operators of their own.
SOLO_PREFIX = "solo-"


@pytest.fixture(scope="session")
def operator_settings() -> dict[str, str]:
    """Fast clocks, so tests wait seconds rather than minutes."""
    return {
        **COREHUB_SETTINGS,
        "CHRONOS_LEASE_NAMESPACE": "default",
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
    log_dir = tmp_path_factory.mktemp("operator")
    process = OperatorProcess(cluster.kubeconfig, log_dir, **operator_settings).start()
    yield process
    process.stop()


@pytest.fixture
def solo_namespace(k8s: Client) -> Iterator[str]:
    """A namespace only the test's own operators watch, with the CoreHub Secret."""
    name = f"{SOLO_PREFIX}{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    k8s.create(secret(COREHUB_SECRET, name))
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
        process = OperatorProcess(cluster.kubeconfig, tmp_path, **settings)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop(signal.SIGKILL)
