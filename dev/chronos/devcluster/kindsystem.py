"""The system on the kind cluster (issue 24): what ``make up`` installs, with kind's means.

The same steps as on the home-made cluster, through the :class:`system.Target` seam (a
kubeconfig and kubectl): the CRDs, the Helm chart exactly as a user installs it, the demo
account and the CoreHub Secret, the sample job and a first run. What differs, because
this is a kind cluster:

- metrics-server runs as a Deployment in ``kube-system`` (its own image, built from the
  cached static binary and loaded with ``kind load``), as a kind user installs it:
  upstream's manifest, with ``--kubelet-insecure-tls`` because kind's kubelets serve a
  self-signed certificate, and an APIService that skips TLS verification like upstream's.
- The fake CoreHub listens on this host's address on the ``kind`` Docker network (its
  gateway), which pods reach through the node's masquerade; nothing there leaves the
  machine (the kind engine runs with ``--iptables=false --ip-forward=false``).
- The REST facade's Service is a NodePort (:data:`NODE_PORT`), published on
  ``127.0.0.1:<api port>`` through kind's ``extraPortMappings``: the host cannot reach
  Service addresses, and no relay process is needed.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chronos.devcluster import binaries, metrics, processes, system
from chronos.devcluster.cluster import kubectl
from chronos.devcluster.images import Engine, ImageError
from chronos.devcluster.processes import Component

#: The REST facade's node port; kind maps it to 127.0.0.1:<api port> on the host.
NODE_PORT = 30088
#: The Docker network kind puts its nodes on.
NETWORK = "kind"
METRICS_IMAGE_REPO = "chronos-metrics-server"


@dataclass(frozen=True)
class KindTarget:
    """The kind cluster as :class:`system.Target`: kind's kubeconfig, our kubectl."""

    directory: Path
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def services_file(self) -> Path:
        return self.directory / "services.json"

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        return kubectl(self.bin_dir, self.kubeconfig, *args, check=check, input=input)

    def probe_context(self) -> ssl.SSLContext:
        # Only plain-HTTP endpoints (fake CoreHub, the published facade) are probed here.
        return ssl.create_default_context()


# ------------------------------------------------------------------- pure parts


def cluster_config(base: str, api_port: int) -> str:
    """kindnode/cluster.yaml with the facade's NodePort published on 127.0.0.1:api_port
    (loopback only: the dashboard is for this machine)."""
    config = yaml.safe_load(base)
    (node,) = config["nodes"]  # one node per cluster: the static CNI (docs/kind.md)
    node["extraPortMappings"] = [
        {
            "containerPort": NODE_PORT,
            "hostPort": api_port,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }
    ]
    return yaml.safe_dump(config, sort_keys=False)


def published_port(docker_port_output: str) -> int | None:
    """The host port of ``docker port <node> 30088/tcp`` output (``127.0.0.1:8088``)."""
    for line in docker_port_output.splitlines():
        host, _, port = line.strip().rpartition(":")
        if host and port.isdigit():
            return int(port)
    return None


def ipv4_gateway(network: dict[str, Any]) -> str:
    """This host's IPv4 address on a Docker network (``docker network inspect`` JSON)."""
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = config.get("Gateway") or ""
        if gateway.count(".") == 3:
            return str(gateway)
    raise ImageError(f"the Docker network {network.get('Name')!r} has no IPv4 gateway")


def chart_extra() -> dict[str, dict[str, object]]:
    """The chart values the kind cluster adds: the facade's Service on the mapped NodePort."""
    return {"api": {"service": {"type": "NodePort", "nodePort": NODE_PORT}}}


def metrics_manifests(image: str) -> list[dict[str, Any]]:
    """metrics-server as upstream's components.yaml installs it (less its PDB), kind-style."""
    name, namespace = metrics.NAME, metrics.NAMESPACE
    meta = {"name": name, "namespace": namespace, "labels": {"k8s-app": name}}
    account = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        *metrics.rbac(account),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"k8s-app": name},
                "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": {"k8s-app": name}},
                "template": {
                    "metadata": {"labels": {"k8s-app": name}},
                    "spec": {
                        "serviceAccountName": name,
                        "priorityClassName": "system-cluster-critical",
                        "containers": [_metrics_container(image)],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": name}},
            "spec": {
                "service": {"name": name, "namespace": namespace, "port": 443},
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "insecureSkipTLSVerify": True,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def _metrics_container(image: str) -> dict[str, Any]:
    return {
        "name": "metrics-server",
        "image": image,
        "imagePullPolicy": "Never",  # loaded with `kind load`; no registry here
        "args": [
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            # kind's kubelets serve a self-signed certificate (kind's own advice).
            "--kubelet-insecure-tls",
            f"--metric-resolution={metrics.RESOLUTION}",
            "--kubelet-request-timeout=5s",
        ],
        "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 5,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - in the pod
    }


# ------------------------------------------------------------------------ I/O


def metrics_image(engine: Engine, work: Path) -> str:
    """An image of the cached static metrics-server binary (``FROM scratch``); returns
    its tag. Docker's layer cache makes a rebuild of the same binary instant."""
    binary = binaries.ensure_metrics_server()
    tag = f"{METRICS_IMAGE_REPO}:{binaries.METRICS_SERVER.version()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "metrics-server").write_bytes(binary.read_bytes())
    (work / "metrics-server").chmod(0o755)
    (work / "Dockerfile").write_text(
        'FROM scratch\nCOPY metrics-server /metrics-server\nENTRYPOINT ["/metrics-server"]\n'
    )
    engine.docker("build", "--quiet", "--tag", tag, str(work), timeout=300)
    return tag


def install_metrics_server(target: KindTarget, image: str) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": metrics_manifests(image)})
    target.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)


def network_gateway(engine: Engine) -> str:
    out = engine.docker("network", "inspect", NETWORK).stdout
    (network,) = json.loads(out)
    return ipv4_gateway(network)


def start_fakehub(target: KindTarget, address: str, deadline: float) -> Component:
    """The recorded fake CoreHub if it still answers, else a new one on ``address``."""
    for component in processes.load(target.services_file):
        if component.name == "fakehub" and component.alive() and address in component.health:
            return component
    stop_services(target)
    hub = system.fakehub_at(address)
    target.logs.mkdir(parents=True, exist_ok=True)
    processes.spawn(hub, target.logs, fresh_log=True)
    processes.save(target.services_file, [hub])
    system.wait_answering(target, hub, deadline)
    return hub


def start_system(
    target: KindTarget, address: str, api_port: int, image_id: str, deadline: float
) -> system.SystemInfo:
    """The fake CoreHub on ``address``, the Helm release (the facade on the NodePort), and
    wait until the facade answers on the host's ``api_port``."""
    hub = start_fakehub(target, address, deadline)
    corehub_url = hub.health.removesuffix("/_fake/health")
    system.install_release(target, corehub_url, image_id, values_extra=chart_extra())
    system.wait_deployments(target, deadline)
    api_url = f"http://127.0.0.1:{api_port}"
    published = Component(name="api-port", argv=[], health=f"{api_url}/readyz")
    system.wait_answering(target, published, deadline)
    return system.SystemInfo(api_url=api_url, corehub_url=corehub_url)


def stop_services(target: KindTarget) -> None:
    """Stop the recorded host processes (the fake CoreHub)."""
    if target.services_file.exists():
        processes.terminate(*(c.pid for c in processes.load(target.services_file)))
        target.services_file.unlink()
