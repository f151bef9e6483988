"""The whole system on the local control plane, for `make up`: fake CoreHub, node agent,
operator and REST facade as background processes, plus the RBAC and Secret they need.

Each is a :class:`~chronos.devcluster.processes.Component` recorded in
``services.json``: ``up`` restarts the dead ones with the same arguments and ports, and
``status`` probes each one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chronos.devcluster import binaries, processes
from chronos.devcluster.cluster import (
    OLDER_VERSION,
    Cluster,
    ClusterError,
    free_port,
    port_in_use,
)
from chronos.devcluster.nodeagent import DEFAULT_NODE_NAME, NODE_LEASE_NAMESPACE
from chronos.devcluster.processes import LEASE_PREFIX, Component, terminate

NAMESPACE = "default"
COREHUB_SECRET = "corehub-credentials"  # noqa: S105 - a Secret name
DEMO_ACCOUNT = "chronos-demo"

API_PORT_VARIABLE = "CHRONOS_DEVCLUSTER_API_PORT"
DEFAULT_API_PORT = 8088
"""The REST facade's port for `make up`: fixed, so that bookmarks and scripts keep working."""


@dataclass(frozen=True)
class SystemInfo:
    api_url: str
    corehub_url: str


def api_port(flag: int | None = None, env: dict[str, str] | None = None) -> int:
    """The REST facade's port: ``--api-port``, else $CHRONOS_DEVCLUSTER_API_PORT, else 8088."""
    if flag is not None:
        return flag
    raw = (os.environ if env is None else env).get(API_PORT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_API_PORT
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ClusterError(f"{API_PORT_VARIABLE}={raw!r} is not a TCP port (1-65535)")
    return port


def check_api_port(port: int) -> None:
    if port_in_use(port):
        raise ClusterError(
            f"port {port} for the REST API is already in use on 127.0.0.1. "
            f"Set {API_PORT_VARIABLE} (or --api-port) to a free port, e.g. "
            f"`{API_PORT_VARIABLE}={port + 1} make up`."
        )


def services_file(cluster: Cluster) -> Path:
    return cluster.directory / "services.json"


def services(cluster: Cluster) -> list[Component]:
    """The recorded services, in start order (empty when none were started)."""
    return processes.load(services_file(cluster))


def _python(name: str, args: list[str], health: str, env: dict[str, str]) -> Component:
    return Component(name=name, argv=[sys.executable, *args], health=health, env=env)


def _components(cluster: Cluster, api_port: int) -> list[Component]:
    root = binaries.repo_root()
    hub_port, health_port = free_port(), free_port()
    corehub = f"http://127.0.0.1:{hub_port}"
    kubeconfig = {"KUBECONFIG": str(cluster.kubeconfig)}
    return [
        _python(
            "fakehub",
            [
                "-m",
                "chronos.fakehub",
                "--port",
                str(hub_port),
                "--seed",
                str(root / "deploy" / "samples" / "fakehub-seed.yaml"),
            ],
            f"{corehub}/_fake/health",
            kubeconfig,
        ),
        _python(
            "nodeagent",
            [
                "-m",
                "chronos.devcluster.nodeagent",
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--work-dir",
                str(cluster.directory / "nodeagent"),
            ],
            f"{LEASE_PREFIX}{NODE_LEASE_NAMESPACE}/{DEFAULT_NODE_NAME}",
            kubeconfig,
        ),
        _python(
            "operator",
            ["-m", "chronos.operator"],
            f"http://127.0.0.1:{health_port}/readyz",
            {
                **kubeconfig,
                "CHRONOS_COREHUB_URL": corehub,
                "CHRONOS_COREHUB_CREDENTIALS_SECRET": COREHUB_SECRET,
                "CHRONOS_HEALTH_HOST": "127.0.0.1",
                "CHRONOS_HEALTH_PORT": str(health_port),
                "CHRONOS_LEASE_NAMESPACE": NAMESPACE,
            },
        ),
        _python(
            "api",
            ["-m", "chronos.api"],
            f"http://127.0.0.1:{api_port}/readyz",
            {
                **kubeconfig,
                "CHRONOS_API_HOST": "127.0.0.1",
                "CHRONOS_API_PORT": str(api_port),
            },
        ),
    ]


def info(components: list[Component]) -> SystemInfo:
    by_name = {c.name: c for c in components}
    return SystemInfo(
        api_url=by_name["api"].health.removesuffix("/readyz"),
        corehub_url=by_name["fakehub"].health.removesuffix("/_fake/health"),
    )


def answers(cluster: Cluster, component: Component) -> bool:
    """True if ``component`` answers its health check right now."""
    if not component.health:
        return False
    if component.health.startswith(LEASE_PREFIX):
        return _lease_fresh(cluster, component.health.removeprefix(LEASE_PREFIX))
    return processes.http_answers(component.health, cluster.probe_context())


def _lease_fresh(cluster: Cluster, ref: str) -> bool:
    """A node agent answers while it keeps renewing its node's Lease, as a kubelet does."""
    namespace, _, name = ref.partition("/")
    try:
        raw = cluster.kubectl(
            "get", "lease", "-n", namespace, name, "-o", "json", "--request-timeout=5s"
        )
    except ClusterError:
        return False
    spec = json.loads(raw).get("spec") or {}
    renewed = spec.get("renewTime")
    if not renewed:
        return False
    age = datetime.now(UTC) - datetime.fromisoformat(renewed.replace("Z", "+00:00"))
    return age.total_seconds() < float(spec.get("leaseDurationSeconds") or 40)


def _wait_answering(cluster: Cluster, component: Component, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not component.alive():
            tail = processes.log_tail(cluster.logs, component.name)
            raise ClusterError(
                f"{component.name} exited during start-up; end of "
                f"{cluster.logs / component.name}.log:\n{tail}"
            )
        if answers(cluster, component):
            return
        time.sleep(0.3)
    raise ClusterError(f"{component.name} did not answer {component.health} in time")


def setup_access(cluster: Cluster) -> str:
    """RBAC, the CoreHub Secret, and a fresh 24 h token for the demo account."""
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


def start_system(cluster: Cluster, api_port: int, timeout: float = 60) -> SystemInfo:
    """Start every service anew (the REST facade on ``api_port``); wait until each answers."""
    components = _components(cluster, api_port)
    for component in components:
        processes.spawn(component, cluster.logs, fresh_log=True)
    processes.save(services_file(cluster), components)
    deadline = time.monotonic() + timeout
    for component in components:
        _wait_answering(cluster, component, deadline)
    return info(components)


def restart_dead(cluster: Cluster, timeout: float = 60) -> tuple[SystemInfo, list[str]]:
    """Start again each recorded service that died, on its recorded ports; wait until all
    answer. Returns the names of those restarted."""
    components = services(cluster)
    restarted = [c for c in components if not c.alive()]
    for component in restarted:
        if not component.argv:
            raise ClusterError(OLDER_VERSION)
    api = next(c for c in components if c.name == "api")
    if api in restarted:
        check_api_port(int(api.env["CHRONOS_API_PORT"]))
    for component in restarted:
        processes.spawn(component, cluster.logs, fresh_log=False)
    processes.save(services_file(cluster), components)
    deadline = time.monotonic() + timeout
    for component in components:
        _wait_answering(cluster, component, deadline)
    return info(components), [c.name for c in restarted]


def stop_system(cluster: Cluster) -> None:
    """Stop every recorded service, all at once (none needs another to shut down)."""
    path = services_file(cluster)
    if path.exists():
        terminate(*(c.pid for c in services(cluster)))
        path.unlink()
