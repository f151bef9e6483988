"""The whole system on the local control plane, for `make up`: fake CoreHub, node agent,
operator and REST facade as background processes, plus the RBAC and Secret they need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from chronos.devcluster import binaries
from chronos.devcluster.cluster import Cluster, ClusterError, alive, free_port, terminate

NAMESPACE = "default"
COREHUB_SECRET = "corehub-credentials"  # noqa: S105 - a Secret name
DEMO_ACCOUNT = "chronos-demo"


@dataclass(frozen=True)
class SystemInfo:
    api_url: str
    corehub_url: str
    token: str


def _services_file(cluster: Cluster) -> Path:
    return cluster.directory / "services.json"


def _spawn(cluster: Cluster, name: str, args: list[str], env: dict[str, str]) -> int:
    log = (cluster.directory / "logs" / f"{name}.log").open("wb")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    proc = subprocess.Popen(
        [sys.executable, *args],
        env={**base, "KUBECONFIG": str(cluster.kubeconfig), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc.pid


def _wait_http(url: str, what: str, pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise ClusterError(f"{what} exited during start-up; see .devcluster/logs")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.3)
    raise ClusterError(f"{what} did not answer {url} within {timeout:.0f}s")


def _apply_rbac(cluster: Cluster) -> str:
    root = binaries.repo_root()
    for manifest in ("runner.yaml", "users.yaml"):
        cluster.kubectl("apply", "-f", str(root / "deploy" / "rbac" / manifest))
    ns = ["-n", NAMESPACE]
    for account, role in (("chronos-runner", "chronos-runner"), (DEMO_ACCOUNT, "chronos-editor")):
        cluster.kubectl(*ns, "apply", "-f", "-", input=_service_account(account))
        cluster.kubectl(*ns, "apply", "-f", "-", input=_role_binding(account, role))
    cluster.kubectl(
        *ns,
        "apply",
        "-f",
        "-",
        input=_secret(COREHUB_SECRET, {"username": "admin", "password": "admin"}),
    )
    return cluster.kubectl(*ns, "create", "token", DEMO_ACCOUNT, "--duration=24h").strip()


def _service_account(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": NAMESPACE},
        }
    )


def _role_binding(account: str, role: str) -> str:
    return json.dumps(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        }
    )


def _secret(name: str, data: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": data,
        }
    )


def start_system(cluster: Cluster) -> SystemInfo:
    root = binaries.repo_root()
    token = _apply_rbac(cluster)
    pids: dict[str, int] = {}
    hub_port, api_port, health_port = free_port(), free_port(), free_port()
    corehub = f"http://127.0.0.1:{hub_port}"
    pids["fakehub"] = _spawn(
        cluster,
        "fakehub",
        [
            "-m",
            "chronos.fakehub",
            "--port",
            str(hub_port),
            "--seed",
            str(root / "deploy" / "samples" / "fakehub-seed.yaml"),
        ],
        {},
    )
    pids["nodeagent"] = _spawn(
        cluster,
        "nodeagent",
        [
            "-m",
            "chronos.devcluster.nodeagent",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--work-dir",
            str(cluster.directory / "nodeagent"),
        ],
        {},
    )
    pids["operator"] = _spawn(
        cluster,
        "operator",
        ["-m", "chronos.operator"],
        {
            "CHRONOS_COREHUB_URL": corehub,
            "CHRONOS_COREHUB_CREDENTIALS_SECRET": COREHUB_SECRET,
            "CHRONOS_HEALTH_HOST": "127.0.0.1",
            "CHRONOS_HEALTH_PORT": str(health_port),
            "CHRONOS_LEASE_NAMESPACE": NAMESPACE,
        },
    )
    api_url = f"http://127.0.0.1:{api_port}"
    pids["api"] = _spawn(
        cluster,
        "api",
        ["-m", "chronos.api"],
        {"CHRONOS_API_HOST": "127.0.0.1", "CHRONOS_API_PORT": str(api_port)},
    )
    _services_file(cluster).write_text(json.dumps(pids))
    _wait_http(f"http://127.0.0.1:{health_port}/readyz", "the operator", pids["operator"])
    _wait_http(f"{api_url}/readyz", "the REST facade", pids["api"])
    return SystemInfo(api_url=api_url, corehub_url=corehub, token=token)


def stop_system(cluster: Cluster) -> None:
    path = _services_file(cluster)
    if path.exists():
        for pid in json.loads(path.read_text()).values():
            terminate(pid)
        path.unlink()
