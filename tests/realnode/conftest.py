"""The usual fixture names, bound to the session's kind cluster (``realnode.fixtures``) for
every test of this package: runner pods are real pods of the runner image, the fake
CoreHub listens on this host's kind-network address (pods cannot reach the host's
loopback), and the operator and REST facade (host processes) serve the kind cluster."""

from __future__ import annotations

import pytest
from fixtures_api import ApiServer
from lightkube import Client

from chronos.devcluster.operator_process import OperatorProcess
from chronos.devcluster.system import KindTarget
from chronos.fakehub import FakeCoreHub
from realnode.fixtures import Node, install_runner


@pytest.fixture
def cluster(real_node: Node) -> KindTarget:
    return real_node.cluster


@pytest.fixture
def k8s(real_node: Node) -> Client:
    return real_node.k8s


@pytest.fixture
def fakehub_server(node_hub_server: FakeCoreHub) -> FakeCoreHub:
    return node_hub_server


@pytest.fixture
def operator(node_operator: OperatorProcess) -> OperatorProcess:
    return node_operator


@pytest.fixture
def api_server(node_api_server: ApiServer) -> ApiServer:
    return node_api_server


@pytest.fixture
def runner_rbac(k8s: Client, namespace: str) -> str:
    """The test's namespace with the runner's account and the CoreHub Secret installed."""
    return install_runner(k8s, namespace)
