"""The system on the kind cluster (chronos.devcluster.system): the pure parts."""

from __future__ import annotations

import pytest
import yaml

from chronos.devcluster import kindcluster, kindnet, metrics, system
from chronos.devcluster.images import ImageError


def test_the_cluster_config_publishes_the_facades_node_port_on_loopback_only() -> None:
    base = (kindcluster.NODE_FILES / "cluster.yaml").read_text()
    config = yaml.safe_load(system.cluster_config(base, 18088))
    (node,) = config["nodes"]
    assert node["extraPortMappings"] == [
        {
            "containerPort": system.NODE_PORT,
            "hostPort": 18088,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }
    ]
    # The rest of kindnode/cluster.yaml is kept (the etcd image patch).
    assert config["kubeadmConfigPatches"] == yaml.safe_load(base)["kubeadmConfigPatches"]


def test_the_published_port_is_read_from_docker_port() -> None:
    assert system.published_port("127.0.0.1:8088\n") == 8088
    assert system.published_port("") is None
    assert system.published_port("Error: No public port '30088/tcp' published\n") is None


def test_the_hosts_address_on_the_kind_network_is_its_ipv4_gateway() -> None:
    network = {
        "Name": "kind",
        "IPAM": {
            "Config": [
                {"Subnet": "fc00:f853:ccd:e793::/64", "Gateway": "fc00:f853:ccd:e793::1"},
                {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"},
            ]
        },
    }
    assert kindnet.ipv4_gateway(network) == "172.17.0.1"
    with pytest.raises(ImageError, match="no IPv4 gateway"):
        kindnet.ipv4_gateway({"Name": "kind", "IPAM": {"Config": [{"Subnet": "::/64"}]}})


def test_metrics_server_runs_as_its_service_account_with_the_upstream_rights() -> None:
    objects = metrics.manifests("chronos-metrics-server:v0")
    bindings = [o for o in objects if o["kind"] in {"ClusterRoleBinding", "RoleBinding"}]
    assert bindings
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": metrics.NAME, "namespace": metrics.NAMESPACE}
        ]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == metrics.NAME
    (container,) = pod["containers"]
    assert container["imagePullPolicy"] == "Never"  # nothing is pulled here
    assert container["securityContext"]["runAsNonRoot"] is True
    # Upstream's rules: never nodes/proxy.
    rules = [rule for o in objects for rule in o.get("rules") or []]
    assert {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]} in rules
    assert not [rule for rule in rules if "nodes/proxy" in rule["resources"]]


def test_the_chart_gets_the_facade_on_the_mapped_node_port() -> None:
    assert system.chart_extra() == {
        "api": {"service": {"type": "NodePort", "nodePort": system.NODE_PORT}}
    }
