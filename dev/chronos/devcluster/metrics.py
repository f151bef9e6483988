"""metrics-server for the real node: the ``metrics.k8s.io`` API the dashboard reads.

The real metrics-server (built from its Go module, ``binaries.METRICS_SERVER``) runs as a
host process of the node, like the kubelet: no image to build and import, and the
node's teardown stops it with the rest. It is wired the way a cluster wires it:

- The API server aggregates it (``Cluster`` with a node: the front-proxy CA and client
  certificate, ``--requestheader-*``): APIService ``v1beta1.metrics.k8s.io`` names the
  selector-less Service ``kube-system/metrics-server``, whose EndpointSlice (and v1
  Endpoints, which the API server's aggregator routing reads) point at the node
  address, where metrics-server listens with a serving certificate of the cluster
  CA (the APIService's ``caBundle``: verified, no ``insecureSkipTLSVerify``). The API
  server dials that endpoint directly (``--enable-aggregator-routing``), never the
  ClusterIP: before kube-proxy programs it, a host process's packets to it would follow
  the default route off this machine.
- metrics-server authenticates to the API server and the kubelet with its own client
  certificate (user :data:`USER`) and has its upstream RBAC: ``get nodes/metrics``,
  ``list/watch`` ``pods`` and ``nodes``, ``system:auth-delegator`` and the
  ``extension-apiserver-authentication-reader`` Role. Never ``nodes/proxy``. It scrapes
  the kubelet's ``/metrics/resource`` over TLS verified against the cluster CA (the
  kubelet's serving certificate comes from it).
- ``system:aggregated-metrics-reader`` (upstream's role) aggregates reading
  ``metrics.k8s.io`` into the built-in view/edit/admin roles.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from chronos.devcluster import binaries
from chronos.devcluster.cluster import METRICS_SERVER_USER, Cluster

NAME = "metrics-server"
NAMESPACE = "kube-system"
#: Its client certificate's user (RBAC below binds this user).
USER = METRICS_SERVER_USER
#: Fixed, like the kubelet's (one real node per machine), so a restart keeps its endpoint.
PORT = 10251
#: The shortest metrics-server accepts: the first numbers arrive this soon after a pod
#: starts (and the kubelet's own CPU figure needs two samples).
RESOLUTION = "10s"


def rbac(subject: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """metrics-server's upstream RBAC, bound to ``subject`` (default: the host process's
    user; on the kind cluster, its ServiceAccount)."""
    rbac = "rbac.authorization.k8s.io/v1"
    user = [subject or {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]

    def binding(kind: str, name: str, role_kind: str, role: str, **meta: str) -> dict[str, Any]:
        return {
            "apiVersion": rbac,
            "kind": kind,
            "metadata": {"name": name, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": user,
        }

    return [
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-server"},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {
                    "apiGroups": [""],
                    "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        binding(
            "ClusterRoleBinding", "system:metrics-server", "ClusterRole", "system:metrics-server"
        ),
        binding(
            "ClusterRoleBinding",
            "metrics-server:system:auth-delegator",
            "ClusterRole",
            "system:auth-delegator",
        ),
        binding(
            "RoleBinding",
            "metrics-server-auth-reader",
            "Role",
            "extension-apiserver-authentication-reader",
            namespace=NAMESPACE,
        ),
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {
                "name": "system:aggregated-metrics-reader",
                "labels": {
                    f"rbac.authorization.k8s.io/aggregate-to-{role}": "true"
                    for role in ("view", "edit", "admin")
                },
            },
            "rules": [
                {
                    "apiGroups": ["metrics.k8s.io"],
                    "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    ]


def manifests(ca_bundle: bytes, address: str, port: int = PORT) -> list[dict[str, Any]]:
    """Everything the API server needs to serve ``metrics.k8s.io`` from ``address:port``."""
    meta = {"name": NAME, "namespace": NAMESPACE}
    return [
        *rbac(),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            # No selector: its endpoint is the host process, in the EndpointSlice below.
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
        # The API server's aggregator routing reads v1 Endpoints (1.33; no controller here
        # mirrors them from the slice); kube-proxy routes the ClusterIP by the slice.
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [
                {
                    "addresses": [{"ip": address}],
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
                }
            ],
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{NAME}-host",
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": NAME,
                    "endpointslice.kubernetes.io/managed-by": "chronos.devcluster",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {
                "service": {"name": NAME, "namespace": NAMESPACE, "port": 443},
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def install(cluster: Cluster, address: str) -> None:
    """Apply :func:`manifests` (server-side, so a re-run with a new CA updates them)."""
    objects = manifests((cluster.pki / "ca.crt").read_bytes(), address)
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=chronos-devcluster",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def args(cluster: Cluster, address: str, binary: Path | None = None) -> list[str]:
    """metrics-server's command line (built first if the cache lacks it)."""
    pki = cluster.pki
    kubeconfig = cluster.node_kubeconfig(NAME)
    return [
        str(binary or binaries.ensure_metrics_server()),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={address}",
        f"--secure-port={PORT}",
        f"--tls-cert-file={pki / 'metrics-server-serving.crt'}",
        f"--tls-private-key-file={pki / 'metrics-server-serving.key'}",
        # The kubelet's serving certificate is the cluster CA's: verified, not skipped.
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--metric-resolution={RESOLUTION}",
        # Must be shorter than the resolution (it refuses to start otherwise).
        "--kubelet-request-timeout=5s",
        "--v=1",
    ]


def health(address: str) -> str:
    return f"https://{address}:{PORT}/livez"
