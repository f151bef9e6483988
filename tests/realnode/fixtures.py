"""A kind cluster for the tests: one real node (kubelet, containerd, kube-proxy, CoreDNS,
metrics-server) from the node image built here (``chronos.devcluster.kindcluster``).

Registered in ``tests/conftest.py``'s ``pytest_plugins``; ``conftest.py`` here binds the
usual fixture names to this cluster for the tests of this package (test_devcluster_up.py
requests none of them: it runs `make up`'s cluster ``chronos`` beside this one). Created
once per session, by the first test that needs it, with a name of its own, in the
project's Docker engine (the ``docker_engine`` fixture), on the guarded ``kind`` network
(``kindnet``); deleted at the end. Needs root; if it cannot start, the tests error out
(never skipped). The runner image comes from the project's own build (``images``
fixture) and is loaded with ``kind load``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml
from builders import create_chronosjob as create
from fixtures_api import ApiServer, serve_api
from fixtures_corehub import FAST_SEED
from lightkube import Client, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Pod, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, RoleBinding
from lightkube.types import PatchType
from support import ROOT, get_cr, wait_for

from chronos import contract as c
from chronos import kube
from chronos.devcluster import kindcluster, metrics
from chronos.devcluster.images import BuildReport, Engine, image_tag
from chronos.devcluster.operator_process import OperatorProcess
from chronos.devcluster.system import KindTarget
from chronos.fakehub import FakeCoreHub, FakeHubControl, FakeHubState
from chronos.kube import ChronosJobResource

#: The CoreHub Secret ``install_runner`` puts in a test's namespace (admin/admin).
HUB_SECRET = "hub"


#: Runner pods' resources, set through CHRONOS_RUNNER_POD_OVERRIDES: enough for the runner
#: (about 40 MiB), too little for the OOM test's allocation.
RUNNER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "48Mi"},
    "limits": {"cpu": "500m", "memory": "96Mi"},
}


@dataclass
class Node:
    """The session's kind cluster and what starting it measured."""

    cluster: KindTarget
    k8s: Client
    #: The node's name (also its container's).
    name: str
    #: The node's InternalIP, on the kind network.
    node_ip: str
    #: This host's address on the kind network: pods reach host processes there.
    address: str
    #: Seconds from ``kind create cluster`` to the node Ready (kind waits for it).
    ready_seconds: float
    runner_image: str

    def wait_pod_ended(
        self, namespace: str, name: str, timeout: float = 90.0, poll: float = 0.2
    ) -> str:
        """Wait until the pod ends and return its phase (Succeeded or Failed)."""
        deadline = time.monotonic() + timeout
        phase = "unknown"
        while time.monotonic() < deadline:
            pod = self.k8s.get(Pod, name, namespace=namespace)
            phase = (pod.status.phase if pod.status else None) or "unknown"
            if phase in ("Succeeded", "Failed"):
                return phase
            time.sleep(poll)
        raise AssertionError(f"pod {namespace}/{name} still {phase} after {timeout:.0f} s")

    def metrics_server_log(self, lines: int = 40) -> str:
        """The end of metrics-server's log (it runs as a pod), for a failure's message."""
        return self.cluster.kubectl(
            "logs", "-n", metrics.NAMESPACE, f"deployment/{metrics.NAME}", f"--tail={lines}",
            check=False,
        )  # fmt: skip


@pytest.fixture(scope="session")
def real_node(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine, images: BuildReport
) -> Iterator[Node]:
    runner = image_tag("runner")
    assert images.images["runner"].tag == runner
    directory = tmp_path_factory.mktemp("kind")
    with kindcluster.scratch(docker_engine, directory, runner) as made:
        k8s = kube.client(made.target.kubeconfig)
        yield Node(made.target, k8s, made.node, made.node_ip, made.address, made.seconds, runner)


@pytest.fixture(scope="session")
def node_hub_server(real_node: Node) -> Iterator[FakeCoreHub]:
    """The fake CoreHub on this host's kind-network address: pods cannot reach the
    host's loopback."""
    hub = FakeCoreHub(FakeHubState(FAST_SEED), host=real_node.address).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def node_hub(node_hub_server: FakeCoreHub) -> Iterator[FakeHubControl]:
    with FakeHubControl(node_hub_server.url) as control:
        control.reset()
        yield control


@pytest.fixture(scope="session")
def node_api_server(
    real_node: Node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The REST facade (in this process) of the kind cluster."""
    yield from serve_api(real_node.cluster, real_node.k8s, tmp_path_factory)


def node_runner_settings(real_node: Node) -> dict[str, str]:
    """What an operator needs for runner pods of the real runner image on the real node."""
    return {
        "CHRONOS_RUNNER_IMAGE": real_node.runner_image,
        # No registry: the image was loaded with `kind load`, or the pod must fail.
        "CHRONOS_RUNNER_IMAGE_PULL_POLICY": "Never",
        # A memory limit of our own for every runner pod (the OOM test relies on it).
        "CHRONOS_RUNNER_POD_OVERRIDES": json.dumps({"resources": RUNNER_RESOURCES}),
    }


@pytest.fixture(scope="session")
def node_operator(
    real_node: Node,
    tmp_path_factory: pytest.TempPathFactory,
    operator_settings: dict[str, str],
    node_hub_server: FakeCoreHub,
) -> Iterator[OperatorProcess]:
    """The operator as a local process, its runner Jobs made from the real runner image;
    a job that names no CoreHub (as the dashboard's form makes them) uses the node's fake
    CoreHub with the Secret "hub" of its namespace (``install_runner``), as `make up` does."""
    settings = {
        # The tests' settings (fast clocks, solo- namespaces left alone) for the real node.
        **operator_settings,
        **node_runner_settings(real_node),
        "CHRONOS_COREHUB_URL": node_hub_server.url,
        "CHRONOS_COREHUB_CREDENTIALS_SECRET": HUB_SECRET,
        "CHRONOS_LEASE_NAMESPACE": "default",
        "CHRONOS_LEASE_NAME": f"chronos-node-{uuid.uuid4().hex[:6]}",
        "CHRONOS_HOUSEKEEPING_SECONDS": "3",
        "CHRONOS_LEASE_DURATION_SECONDS": "6",
        "CHRONOS_LEASE_RENEW_SECONDS": "2",
        # A launch that cannot start (a bad image) is recorded this soon.
        "CHRONOS_MISSED_RUN_GRACE_SECONDS": "15",
    }
    process = OperatorProcess(
        real_node.cluster.kubeconfig, tmp_path_factory.mktemp("node-operator"), **settings
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def install_runner(k8s: Client, namespace: str) -> str:
    """The runner ServiceAccount bound to the shipped runner ClusterRole, as installed,
    and the CoreHub Secret "hub" (admin/admin), also the operator's default."""
    role = yaml.safe_load((ROOT / "deploy" / "rbac" / "runner.yaml").read_text())
    k8s.apply(codecs.from_dict(role), field_manager="chronos-tests", force=True)
    k8s.create(ServiceAccount(metadata=ObjectMeta(name="chronos-runner", namespace=namespace)))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="chronos-runner", namespace=namespace),
            roleRef=RoleRef(
                apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name="chronos-runner"
            ),
            subjects=[Subject(kind="ServiceAccount", name="chronos-runner", namespace=namespace)],
        )
    )
    k8s.create(
        Secret(
            metadata=ObjectMeta(name=HUB_SECRET, namespace=namespace),
            stringData={"username": "admin", "password": "admin"},
        )
    )
    assert k8s.get(ClusterRole, "chronos-runner")
    return namespace


# ------------------------------------------------ ChronosJobs run on the node


def chronos_job(url: str, task: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": task,
        "schedule": {"cron": "0 3 1 1 *"},
        "timeZone": "Europe/Rome",
        "timeoutSeconds": 60,
        "coreHub": {"url": url, "credentialsSecretRef": {"name": "hub"}},
    }


def request_run_now(
    k8s: Client, ns: str, name: str, url: str, task: dict[str, Any], **spec: Any
) -> None:
    """Create the ChronosJob (``spec`` overrides its fields) and, once the operator has
    applied it, ask for one run now."""
    create(k8s, ns, name, {**chronos_job(url, task), **spec})
    wait_for(lambda: (get_cr(k8s, ns, name).get("status") or {}).get("cronJobName"))
    k8s.patch(
        ChronosJobResource,
        name,
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "once"}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def run_now_and_report(k8s: Client, ns: str, name: str, url: str, task: dict[str, Any]) -> Any:
    """Create the ChronosJob, ask for one run now, and return the runner's lastRun."""
    request_run_now(k8s, ns, name, url, task)
    return wait_for(
        lambda: (get_cr(k8s, ns, name).get("status") or {}).get("lastRun"),
        timeout=90,
        what="the runner's report",
    )


def received(fakehub: FakeHubControl) -> list[tuple[str, dict[str, str]]]:
    wanted = ("entity", "groupId")
    return [
        (cmd["path"], {k: v for k, v in parse_qsl(cmd["query"]) if k in wanted})
        for cmd in fakehub.commands()
    ]
