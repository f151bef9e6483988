"""metrics-server on the kind cluster: the ``metrics.k8s.io`` API the dashboard reads.

Installed as a kind user installs it: upstream's components.yaml (less its PDB) as a
Deployment in ``kube-system``, its image made from the static binary built from its Go
module (``binaries.METRICS_SERVER``) and loaded with ``kind load``; ``--kubelet-insecure-tls``
because kind's kubelets serve a self-signed certificate, and an APIService that skips TLS
verification like upstream's. Upstream's RBAC: ``get nodes/metrics``, ``list/watch``
``pods`` and ``nodes``, ``system:auth-delegator``, the
``extension-apiserver-authentication-reader`` Role, never ``nodes/proxy``;
``system:aggregated-metrics-reader`` aggregates reading ``metrics.k8s.io`` into the
built-in view/edit/admin roles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chronos.devcluster import binaries
from chronos.devcluster.images import Engine
from chronos.devcluster.system import Target

NAME = "metrics-server"
NAMESPACE = "kube-system"
IMAGE_REPO = "chronos-metrics-server"
#: The shortest metrics-server accepts: the first numbers arrive this soon after a pod
#: starts (and the kubelet's own CPU figure needs two samples).
RESOLUTION = "10s"


def rbac(subject: dict[str, str]) -> list[dict[str, Any]]:
    """metrics-server's upstream RBAC, bound to ``subject`` (its ServiceAccount)."""
    rbac = "rbac.authorization.k8s.io/v1"
    user = [subject]

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


def manifests(image: str) -> list[dict[str, Any]]:
    """metrics-server as upstream's components.yaml installs it (less its PDB), kind-style."""
    name, namespace = NAME, NAMESPACE
    meta = {"name": name, "namespace": namespace, "labels": {"k8s-app": name}}
    account = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        *rbac(account),
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
            f"--metric-resolution={RESOLUTION}",
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


def build_image(engine: Engine, work: Path) -> str:
    """An image of the cached static metrics-server binary (``FROM scratch``); returns
    its tag. Docker's layer cache makes a rebuild of the same binary instant."""
    binary = binaries.ensure_metrics_server()
    tag = f"{IMAGE_REPO}:{binaries.METRICS_SERVER.version()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "metrics-server").write_bytes(binary.read_bytes())
    (work / "metrics-server").chmod(0o755)
    (work / "Dockerfile").write_text(
        'FROM scratch\nCOPY metrics-server /metrics-server\nENTRYPOINT ["/metrics-server"]\n'
    )
    engine.docker("build", "--quiet", "--tag", tag, str(work), timeout=300)
    return tag


def install(target: Target, image: str) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(image)})
    target.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)
