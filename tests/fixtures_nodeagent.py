"""The test node agent: runs the pods of Chronos Jobs as local processes, once per session.

Registered in ``conftest.py``'s ``pytest_plugins``. The node has a name of its own per
session and is deleted at the end, so sessions sharing one control plane never run each
other's pods under the same node name.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from lightkube import ALL_NS, Client
from lightkube.resources.core_v1 import Namespace, Pod

from chronos.devcluster.cluster import Cluster
from chronos.devcluster.nodeagent import NodeAgent


@pytest.fixture(scope="session")
def node_agent(
    cluster: Cluster, k8s: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NodeAgent]:
    agent = NodeAgent(
        cluster.kubeconfig,
        node_name=f"chronos-test-{uuid.uuid4().hex[:8]}",
        work_dir=tmp_path_factory.mktemp("nodeagent"),
        delete_node_on_stop=True,
    )
    agent.start()
    try:
        yield agent
    finally:
        _let_deletions_finish(k8s, agent.node_name)
        agent.stop()


def _let_deletions_finish(k8s: Client, node: str, timeout: float = 30.0) -> None:
    """Wait until the node's pods being deleted (or in deleted namespaces) are gone.

    The namespace fixture deletes each test's namespace; only the agent can confirm the
    deletion of the pods bound to its node, so it must outlive them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        terminating = {
            ns.metadata.name
            for ns in k8s.list(Namespace)
            if ns.metadata is not None
            and ns.status is not None
            and ns.status.phase == "Terminating"
        }
        pending = [
            p
            for p in k8s.list(Pod, namespace=ALL_NS, fields={"spec.nodeName": node})
            if p.metadata is not None
            and (p.metadata.deletionTimestamp is not None or p.metadata.namespace in terminating)
        ]
        if not pending:
            return
        time.sleep(0.25)
