"""The whole system on the kind cluster, for `make up` (``kindcluster`` makes the cluster).

The operator and the REST facade run as Deployments from the operator image, installed
with the Helm chart (charts/chronos) exactly as a user installs them, admission policies
included; every run is a pod of the runner image. Through the :class:`Target` seam (a
kubeconfig and kubectl): the CRDs, the chart, the demo account and the CoreHub Secret,
the sample job and a first run. What is particular to kind:

- metrics-server runs as a Deployment in ``kube-system``, as a kind user installs it
  (``metrics``).
- The fake CoreHub, the one host process, listens on this host's address on the
  ``kind`` Docker network (its gateway), which pods reach through the node's masquerade;
  nothing there leaves the machine (``kindnet``). It is a
  :class:`~chronos.devcluster.processes.Component` recorded in ``services.json``: ``up``
  again restarts it if it died, and ``status`` probes it.
- The REST facade's Service is a NodePort (:data:`NODE_PORT`), published on
  ``127.0.0.1:<api port>`` through kind's ``extraPortMappings``: the host cannot reach
  Service addresses, and no relay process is needed. The Deployments are reported by
  their ready replicas (Kubernetes restarts their pods; ``up``'s ``helm upgrade`` brings
  back a deleted object).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml

from chronos.devcluster import binaries, processes
from chronos.devcluster.cluster import ClusterError, free_port, kubectl, port_in_use
from chronos.devcluster.processes import Component

NAMESPACE = "default"
"""Where the sample ChronosJob and its runs live."""
RELEASE = "chronos"
RELEASE_NAMESPACE = "chronos"
DEPLOYMENTS = {"operator": "chronos-operator", "api": "chronos-api"}
API_SERVICE = "chronos-api"
COREHUB_SECRET = "corehub-credentials"  # noqa: S105 - a Secret name
DEMO_ACCOUNT = "chronos-demo"
DEPLOYMENT_PREFIX = "deployment:"

API_PORT_VARIABLE = "CHRONOS_DEVCLUSTER_API_PORT"
DEFAULT_API_PORT = 8088
"""The REST facade's port for `make up`: fixed, so that bookmarks and scripts keep working."""


class Target(Protocol):
    """What installing and probing the system needs of a cluster: its kubeconfig, a
    folder for helm's state and the host processes' logs, kubectl, and TLS for probing
    its HTTPS endpoints: :class:`KindTarget`, and the tests' bare control plane
    (``cluster.Cluster``)."""

    @property
    def directory(self) -> Path: ...

    @property
    def kubeconfig(self) -> Path: ...

    @property
    def logs(self) -> Path: ...

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str: ...

    def probe_context(self) -> ssl.SSLContext: ...


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


def deployments() -> list[Component]:
    """The Deployments, as rows of ``status`` (no process of ours: pid 0)."""
    return [
        Component(name=name, argv=[], health=f"{DEPLOYMENT_PREFIX}{RELEASE_NAMESPACE}/{obj}")
        for name, obj in DEPLOYMENTS.items()
    ]


def fakehub_at(address: str) -> Component:
    """The fake CoreHub on ``address`` (one the pods can reach), on a free port."""
    root = binaries.repo_root()
    url = f"http://{address}:{free_port()}"
    seed = root / "deploy" / "samples" / "fakehub-seed.yaml"
    port = url.rsplit(":", 1)[1]
    fakehub = [sys.executable, "-m", "chronos.fakehub", "--host", address, "--port", port]
    return Component(
        name="fakehub", argv=[*fakehub, "--seed", str(seed)], health=f"{url}/_fake/health"
    )


# ---------------------------------------------------------------------------- probes


def answers(cluster: Target, component: Component) -> bool:
    """True if ``component`` answers its health check right now."""
    health = component.health
    if not health:
        return False
    if health.startswith(DEPLOYMENT_PREFIX):
        ready, wanted = deployment_replicas(cluster, health.removeprefix(DEPLOYMENT_PREFIX))
        return wanted > 0 and ready == wanted
    return processes.http_answers(health, cluster.probe_context())


def deployment_replicas(cluster: Target, ref: str) -> tuple[int, int]:
    """(ready, wanted) replicas of the Deployment ``namespace/name``; (0, 0) if absent."""
    namespace, _, name = ref.partition("/")
    try:
        raw = cluster.kubectl(
            "get", "deployment", "-n", namespace, name, "-o", "json", "--request-timeout=5s"
        )
    except ClusterError:
        return 0, 0
    return rolled_out(json.loads(raw))


def rolled_out(deployment: dict[str, Any]) -> tuple[int, int]:
    """(ready, wanted) replicas of ``deployment`` (its JSON), counting ready pods of its
    current template only once it has no pod of an older one left: right after
    ``helm upgrade`` changes the template, the old pods are all ready and still serve."""
    status = deployment.get("status") or {}
    wanted = int(deployment["spec"].get("replicas") or 0)
    updated = status.get("updatedReplicas") or 0
    seen = status.get("observedGeneration") == deployment["metadata"].get("generation")
    if not seen or (status.get("replicas") or 0) > updated:
        return 0, wanted
    return min(status.get("readyReplicas") or 0, updated), wanted


def wait_answering(cluster: Target, component: Component, deadline: float) -> None:
    while time.monotonic() < deadline:
        if component.pid and not component.alive():
            tail = processes.log_tail(cluster.logs, component.name)
            raise ClusterError(
                f"{component.name} exited during start-up; end of "
                f"{cluster.logs / component.name}.log:\n{tail}"
            )
        if answers(cluster, component):
            return
        time.sleep(0.3)
    raise ClusterError(f"{component.name} did not answer {component.health} in time")


#: Waiting reasons of a release pod that will not come right by waiting longer.
STUCK = frozenset({"CrashLoopBackOff", "ErrImageNeverPull", "InvalidImageName", "ErrImagePull"})


def _stuck_pod(cluster: Target, since: datetime) -> str | None:
    """A release pod created ``since`` that keeps failing, with the end of its log (to
    fail fast; older pods may be of a ReplicaSet being replaced)."""
    raw = cluster.kubectl("get", "pods", "-n", RELEASE_NAMESPACE, "-o", "json", check=False)
    try:
        pods = json.loads(raw)["items"]
    except (ValueError, KeyError):
        return None
    for pod in pods:
        created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
        if created < since or pod["metadata"].get("deletionTimestamp"):
            continue
        for status in pod.get("status", {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK and (
                waiting["reason"] != "CrashLoopBackOff" or status.get("restartCount", 0) >= 2
            ):
                name = pod["metadata"]["name"]
                logs = cluster.kubectl(
                    "logs", "-n", RELEASE_NAMESPACE, name, "--previous", "--tail=30", check=False
                )
                return f"pod {name}: {waiting['reason']} {waiting.get('message', '')}\n{logs}"
    return None


def wait_deployments(cluster: Target, deadline: float) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    pending = deployments()
    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if not answers(cluster, c)]
        stuck = _stuck_pod(cluster, since) if pending else None
        if stuck:
            raise ClusterError(f"the Helm release does not come up: {stuck}")
        time.sleep(0.5)
    if pending:
        pods = cluster.kubectl("get", "pods", "-n", RELEASE_NAMESPACE, "-o", "wide", check=False)
        raise ClusterError(
            f"Deployment(s) {', '.join(c.name for c in pending)} not ready in time\n{pods}"
        )


# ---------------------------------------------------------------------------- access


def setup_access(cluster: Target) -> str:
    """The users' roles, the CoreHub Secret, and a fresh 24 h token for the demo account.

    The runner's ServiceAccount and role come with the chart."""
    root = binaries.repo_root()
    cluster.kubectl("apply", "-f", str(root / "deploy" / "rbac" / "users.yaml"))
    ns = ["-n", NAMESPACE]
    cluster.kubectl(*ns, "apply", "-f", "-", input=_service_account(DEMO_ACCOUNT))
    # The editor's rights, and the dashboard's live logs (pods/log) too.
    bindings = {DEMO_ACCOUNT: "chronos-editor", f"{DEMO_ACCOUNT}-logs": "chronos-log-reader"}
    for name, role in bindings.items():
        cluster.kubectl(*ns, "apply", "-f", "-", input=_role_binding(name, DEMO_ACCOUNT, role))
    # The dashboard's Cluster page: the chart's read-only Roles in the release's
    # namespace (the operator's and the facade's pods, the Lease and the figures).
    # (The namespace made here when the release is not installed yet: helm's
    # --create-namespace takes it as it is.)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    for role in (f"{RELEASE}-cluster-viewer", f"{RELEASE}-cluster-viewer-lease"):
        binding = _role_binding(
            f"{DEMO_ACCOUNT}-{role}", DEMO_ACCOUNT, role, kind="Role", where=RELEASE_NAMESPACE
        )
        cluster.kubectl("apply", "-f", "-", input=binding)
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


def _role_binding(
    name: str, account: str, role: str, *, kind: str = "ClusterRole", where: str = NAMESPACE
) -> str:
    """A RoleBinding in ``where`` of the demo namespace's ``account`` to ``role``."""
    return json.dumps(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": where},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": kind,
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


# ------------------------------------------------------------------------------ helm


#: On the pods of the operator's and the facade's Deployments: the ID of the image they
#: run. Its tag stays the same when the image is rebuilt, and a kubelet starting again
#: (`make up` on kept state) restarts the pods it had before ``up`` imports the new
#: image; a new ID changes the pod template, so the Deployments replace those pods.
IMAGE_ID_ANNOTATION = "chronos.gluesync.io/image-id"


def image_values(image_id: str) -> dict[str, object]:
    """Chart values that mark the Deployments' pods with their image's ID."""
    pods = {"podAnnotations": {IMAGE_ID_ANNOTATION: image_id}}
    return {"operator": pods, "api": pods}


def _installed_image_id(values: Path) -> str | None:
    if not values.exists():
        return None
    pods = json.loads(values.read_text()).get("api", {}).get("podAnnotations") or {}
    found = pods.get(IMAGE_ID_ANNOTATION)
    return str(found) if found else None


def chart_values(corehub_url: str, extra: dict[str, object] | None = None) -> dict[str, object]:
    """The chart's values for this machine: the images already in containerd (never
    pulled: no registry, and nothing may leave the machine), the fake CoreHub."""
    never = {"pullPolicy": "Never"}
    values: dict[str, object] = {
        "operator": {
            "image": never,
            "coreHub": {"url": corehub_url, "credentialsSecret": COREHUB_SECRET},
        },
        # The demo account's namespace, where the sample job lives. The dashboard is
        # served over plain HTTP on this machine's loopback: a Secure-only cookie would
        # never come back from the browser.
        "api": {"image": never, "defaultNamespace": NAMESPACE, "dashboard": {"plainHttp": True}},
        "runner": {"image": never, "namespaces": [NAMESPACE]},
        "tests": {"image": never},
    }
    for key, value in (extra or {}).items():
        base = values.get(key)
        values[key] = (
            {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
        )
    return values


def helm(cluster: Target, *args: str) -> str:
    """Run helm (built from its Go module, cached) against the cluster."""
    home = cluster.directory / "helm"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    result = subprocess.run(
        [str(binaries.ensure_helm()), *args], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"helm {' '.join(args[:2])} failed:\n{result.stderr}{result.stdout}")
    return result.stdout


def install_release(
    cluster: Target,
    corehub_url: str,
    image_id: str | None = None,
    values_extra: dict[str, dict[str, object]] | None = None,
) -> None:
    """``helm upgrade --install`` the chart: installs, or brings back what was deleted.
    ``image_id`` marks the pods (``image_values``); by default the mark of the last
    install is kept, so that bringing back a deleted object replaces no pod.
    ``values_extra``: more values per top-level key (the kind cluster's NodePort)."""
    values = cluster.directory / "helm" / "values.json"
    image_id = image_id or _installed_image_id(values)
    extra: dict[str, object] = {}
    for key, value in [
        *(image_values(image_id) if image_id else {}).items(),
        *(values_extra or {}).items(),
    ]:
        base = extra.get(key)
        merge = isinstance(base, dict) and isinstance(value, dict)
        extra[key] = {**base, **value} if merge else value  # type: ignore[dict-item]
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(json.dumps(chart_values(corehub_url, extra), indent=2))
    helm(
        cluster,
        "upgrade",
        "--install",
        RELEASE,
        str(binaries.repo_root() / "charts" / "chronos"),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--skip-crds",  # installed (and kept current) by `up` itself
        "-f",
        str(values),
    )


# ------------------------------------------------------------------------ lifecycle


# ------------------------------------------------------------------------ kind


#: The REST facade's node port; kind maps it to 127.0.0.1:<api port> on the host.
NODE_PORT = 30088


@dataclass(frozen=True)
class KindTarget:
    """The kind cluster as :class:`Target`: kind's kubeconfig, our kubectl."""

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


def chart_extra() -> dict[str, dict[str, object]]:
    """The chart values the kind cluster adds: the facade's Service on the mapped NodePort."""
    return {"api": {"service": {"type": "NodePort", "nodePort": NODE_PORT}}}


# ------------------------------------------------------------------------ I/O


def start_fakehub(target: KindTarget, address: str, deadline: float) -> tuple[Component, bool]:
    """The recorded fake CoreHub if it still answers, else a new one on ``address``;
    and whether it was (re)started."""
    for component in processes.load(target.services_file):
        if component.name == "fakehub" and component.alive() and address in component.health:
            return component, False
    stop_services(target)
    hub = fakehub_at(address)
    target.logs.mkdir(parents=True, exist_ok=True)
    processes.spawn(hub, target.logs, fresh_log=True)
    processes.save(target.services_file, [hub])
    wait_answering(target, hub, deadline)
    return hub, True


def api_component(api_port: int) -> Component:
    """The facade as published on the host (its Service's NodePort, kind's port mapping)."""
    return Component(name="api-port", argv=[], health=f"http://127.0.0.1:{api_port}/readyz")


def start_system(
    target: KindTarget, address: str, api_port: int, image_id: str, deadline: float
) -> tuple[SystemInfo, list[str]]:
    """The fake CoreHub on ``address``, the Helm release (the facade on the NodePort), and
    wait until the facade answers on the host's ``api_port``. Also returns what was not
    answering before (``up`` again restarts those and leaves the rest alone)."""
    unready = [c.name for c in deployments() if not answers(target, c)]
    hub, started = start_fakehub(target, address, deadline)
    corehub_url = hub.health.removesuffix("/_fake/health")
    install_release(target, corehub_url, image_id, values_extra=chart_extra())
    wait_deployments(target, deadline)
    published = api_component(api_port)
    wait_answering(target, published, deadline)
    info = SystemInfo(api_url=published.health.removesuffix("/readyz"), corehub_url=corehub_url)
    processes.save(target.services_file, [hub], api_url=info.api_url)
    return info, (["fakehub"] if started else []) + unready


def recorded(target: KindTarget) -> SystemInfo | None:
    """The URLs of the system ``up`` started on ``target``, if it did."""
    path = target.services_file
    hubs = [c for c in processes.load(path) if c.name == "fakehub"]
    api_url = json.loads(path.read_text()).get("api_url") if hubs else None
    if not api_url:
        return None
    return SystemInfo(api_url=api_url, corehub_url=hubs[0].health.removesuffix("/_fake/health"))


def stop_services(target: KindTarget) -> None:
    """Stop the recorded host processes (the fake CoreHub)."""
    if target.services_file.exists():
        processes.terminate(*(c.pid for c in processes.load(target.services_file)))
        target.services_file.unlink()


@dataclass(frozen=True)
class Row:
    """One line of ``status``."""

    name: str
    state: str
    answers: bool
    detail: str


def status_rows(target: KindTarget, node: str, api_port: int) -> list[Row]:
    """The node, the fake CoreHub, the release's Deployments and the published facade."""
    raw = target.kubectl("get", "node", node, "-o", "json", "--request-timeout=5s", check=False)
    try:
        conditions = json.loads(raw)["status"]["conditions"]
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    except (ValueError, KeyError):
        ready = False
    rows = [Row("node", "Ready" if ready else "NotReady", ready, f"kind node {node}")]
    hubs = processes.load(target.services_file)
    if not hubs:
        rows.append(Row("fakehub", "not started", False, f"not in {target.services_file}"))
    for hub in hubs:
        alive = hub.alive()
        answering = alive and answers(target, hub)
        rows.append(Row(hub.name, "running" if alive else "dead", answering, hub.health))
    for deployment in deployments():
        ref = deployment.health.removeprefix(DEPLOYMENT_PREFIX)
        ready_n, wanted = deployment_replicas(target, ref)
        answering = wanted > 0 and ready_n == wanted
        rows.append(Row(deployment.name, f"{ready_n}/{wanted}", answering, f"Deployment {ref}"))
    published = api_component(api_port)
    answering = answers(target, published)
    rows.append(Row(published.name, "published", answering, published.health))
    return rows
