"""`make up KIND=1`: the whole system on a kind cluster from the node image built here.

One `up` for the module (it creates the kind cluster ``chronos`` in its own Docker engine;
docs/kind.md); the tests run in file order and the last one takes it down and checks that
nothing is left on the host. Runs before the session's real node (tests/conftest.py
RUNS_FIRST): one node per machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chronos import http
from chronos.devcluster import binaries, kindcluster, nodehost
from chronos.devcluster.cluster import free_port, port_in_use
from chronos.devcluster.processes import load
from realnode.updown import devcluster, gone, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.realnode, pytest.mark.kind]
MODULE = "chronos.devcluster.kindcluster"
#: A cold `up` builds kind, CoreDNS and local-path-provisioner from their modules first.
FIRST_UP_SECONDS = 2400


@dataclass
class KindSystem:
    state: Path
    api_port: int
    up_output: str
    host_before: nodehost.HostSnapshot
    links_before: set[str]

    @property
    def target(self) -> system.KindTarget:
        return system.KindTarget(self.state / "kind", binaries.ensure_binaries())

    def token(self) -> str:
        return (self.state / "kind" / "token").read_text().strip()

    def api(self, path: str) -> tuple[int, Any]:
        with http.Client(timeout=10) as client:
            response = client.get(
                f"http://127.0.0.1:{self.api_port}{path}",
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            return response.status_code, response.json()


@pytest.fixture(scope="module")
def kind_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindSystem]:
    state = tmp_path_factory.mktemp("kind-up") / "system"
    port = free_port()
    before = nodehost.HostSnapshot.take()
    links = host_links()
    try:
        out = devcluster(
            "up", state=state, api_port=port, module=MODULE, timeout=FIRST_UP_SECONDS
        ).stdout
        yield KindSystem(state, port, out, before, links)
    finally:
        # Also after an `up` that failed: the kind cluster must not outlive the module.
        devcluster("down", state=state, module=MODULE, check=False)


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def pod_python(target: system.KindTarget, deployment: str, code: str) -> str:
    return target.kubectl(
        "exec", "-n", "chronos", f"deploy/{deployment}", "--", "python", "-c", code
    )


def test_up_installs_the_system_and_the_samples_first_run_succeeds(
    kind_system: KindSystem,
) -> None:
    out, target = kind_system.up_output, kind_system.target
    api = re.search(r"REST API:\s+(http://127\.0\.0\.1:(\d+))", out)
    assert api, out
    assert int(api.group(2)) == kind_system.api_port
    assert f"Dashboard:  {api.group(1)}/ui/" in out
    assert kind_system.token() in out
    assert "make down KIND=1" in out
    with http.Client(timeout=30) as browser:
        signed_in = browser.post(f"{api.group(1)}/ui/login", data={"token": kind_system.token()})
        assert signed_in.status_code == 303, signed_in.text
        assert (
            "system:serviceaccount:default:chronos-demo" in browser.get(f"{api.group(1)}/ui/").text
        )

    def last_run() -> dict[str, Any] | None:
        raw = target.kubectl(
            "get", "chronosjob", "morning-sync", "-o", "jsonpath={.status.lastRun}"
        )
        return json.loads(raw) if raw else None

    run = wait_until("the sample's first run", last_run, timeout=180)
    assert (run["result"], run["trigger"]) == ("succeeded", "run-now"), run
    status, listing = kind_system.api("/api/jobs")
    assert status == 200, listing
    assert [job["id"] for job in listing["items"]] == ["morning-sync"]
    # The operator and the facade are the Helm release's Deployments; the facade's Service
    # is the NodePort kind publishes on the host.
    service = json.loads(
        target.kubectl("get", "service", "-n", "chronos", "chronos-api", "-o", "json")
    )
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == system.NODE_PORT


def test_the_operator_and_the_facade_resolve_names_through_cluster_dns(
    kind_system: KindSystem,
) -> None:
    target = kind_system.target
    dns_ip = target.kubectl(
        "get", "service", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"
    )
    api_ip = target.kubectl(
        "get", "service", "-n", "chronos", "chronos-api", "-o", "jsonpath={.spec.clusterIP}"
    )
    code = (
        "import socket; print(open('/etc/resolv.conf').read());"
        "print('api', socket.gethostbyname('chronos-api.chronos.svc.cluster.local'));"
        "print('kubernetes', socket.gethostbyname('kubernetes.default'))"
    )
    for deployment in ("chronos-operator", "chronos-api"):
        out = pod_python(target, deployment, code)
        assert f"nameserver {dns_ip}" in out, (deployment, out)
        assert "search chronos.svc.cluster.local" in out, (deployment, out)
        assert f"api {api_ip}" in out, (deployment, out)
        assert "kubernetes 10.96.0.1" in out, (deployment, out)


def test_metrics_server_serves_the_pods_metrics(kind_system: KindSystem) -> None:
    target = kind_system.target

    def api_pod_metrics() -> list[Any] | None:
        raw = target.kubectl(
            "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/chronos/pods", check=False
        )
        try:
            items = json.loads(raw)["items"]
        except (ValueError, KeyError):
            return None
        return items or None

    items = wait_until("pod metrics of the chronos namespace", api_pod_metrics, timeout=120)
    names = {item["metadata"]["name"] for item in items}
    assert any(name.startswith("chronos-api-") for name in names), names


def test_down_deletes_the_cluster_and_leaves_nothing(kind_system: KindSystem) -> None:
    state = kind_system.state / "kind"
    (hub,) = load(state / "services.json")
    engine = kindcluster.engine_dir()
    devcluster("down", state=kind_system.state, module=MODULE)
    time.sleep(1)
    assert gone(hub.pid)
    assert not port_in_use(kind_system.api_port)
    found = nodehost.leftovers(
        kind_system.host_before, (engine,), (str(engine), str(kind_system.state))
    )
    assert found == []
    # The kind network's bridge and the node's veth are gone with the network.
    assert {
        n for n in host_links() - kind_system.links_before if n.startswith(("br-", "veth"))
    } == set()
    assert not (engine / "docker.sock").exists()
    assert not state.exists()  # its kubeconfig, token and logs named a deleted cluster
