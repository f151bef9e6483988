"""A real node for the tests: its own control plane, containerd, kubelet and kube-proxy.

Registered in ``tests/conftest.py``'s ``pytest_plugins`` (it also declares the
``realnode`` marker, which tests/test_devcluster_up.py uses too); ``conftest.py`` here
binds the usual fixture names to this node for the tests of this package. Started once
per session, by the first test marked ``realnode``; it has a control plane of its own
(the API server on the node address, with kube-scheduler), so the loopback plane and
its tests are untouched. Needs root and installs containerd, runc and the CNI plugins
when they are missing; if it cannot start, the tests error out (never skipped). The
runner image comes from the project's own build (``images`` fixture) and is imported
into containerd.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fixtures_api import ApiServer, serve_api
from fixtures_corehub import FAST_SEED
from lightkube import Client, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, RoleBinding

from chronos import kube
from chronos.devcluster.__main__ import install_crd
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.images import BuildReport, Engine, image_tag
from chronos.devcluster.node import RealNode, node_address
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl, FakeHubState

ROOT = Path(__file__).resolve().parents[2]
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
    """The running node and what starting it measured."""

    cluster: Cluster
    node: RealNode
    k8s: Client
    ready_seconds: float
    runner_image: str


@pytest.fixture(scope="session")
def real_node(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine, images: BuildReport
) -> Iterator[Node]:
    cluster = Cluster(
        tmp_path_factory.mktemp("realnode"),
        node_address=node_address(),
        node_name=f"chronos-node-{uuid.uuid4().hex[:6]}",
    )
    node: RealNode | None = None
    try:
        cluster.start()
        install_crd(cluster)
        node = RealNode(cluster)
        ready = node.start()
        runner = image_tag("runner")
        assert images.images["runner"].tag == runner
        node.import_image(docker_engine, runner)
        yield Node(cluster, node, kube.client(cluster.kubeconfig), ready, runner)
    finally:
        if node is not None:
            node.stop()
        cluster.stop()


@pytest.fixture(scope="session")
def node_hub_server(real_node: Node) -> Iterator[FakeCoreHub]:
    """The fake CoreHub on the node address: pods cannot reach the host's loopback."""
    hub = FakeCoreHub(FakeHubState(FAST_SEED), host=real_node.node.address).start()
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
    """The REST facade (in this process) of the real node's control plane."""
    yield from serve_api(real_node.cluster, real_node.k8s, tmp_path_factory)


def node_runner_settings(real_node: Node) -> dict[str, str]:
    """What an operator needs for runner pods of the real runner image on the real node."""
    return {
        "CHRONOS_RUNNER_IMAGE": real_node.runner_image,
        # No registry: the image is in containerd already, or the pod must fail.
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
