"""A real local control plane: etcd, kube-apiserver and kube-controller-manager.

Modelled on controller-runtime's envtest, plus kube-controller-manager so that
CronJobs really create Jobs and owned objects are really garbage-collected. Everything
listens on loopback only.

With ``node_address`` set the plane is ready for a real node (``chronos.devcluster.node``):
the API server listens on that address instead (pods cannot reach the host's loopback),
kube-scheduler runs, the controller manager also runs the node-lifecycle and root-CA
publisher controllers, and the node's client certificates are issued.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from chronos.devcluster import binaries
from chronos.devcluster.certs import CertificateAuthority, Pair, service_account_keys

LOOPBACK = "127.0.0.1"
CONTROLLERS = (
    "cronjob-controller",
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "ttl-after-finished-controller",
)
#: What real pods need besides: the not-ready taint removed, ``kube-root-ca.crt`` published.
REAL_NODE_CONTROLLERS = ("node-lifecycle-controller", "root-ca-certificate-publisher-controller")
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: The first address of --service-cluster-ip-range: Service ``kubernetes``, pods' API server.
SERVICE_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _kubeconfig(server: str, ca: Path, client: Pair, user: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "chronos-dev",
                    "cluster": {"server": server, "certificate-authority": str(ca)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate": str(client.cert),
                        "client-key": str(client.key),
                    },
                }
            ],
            "contexts": [
                {"name": "chronos-dev", "context": {"cluster": "chronos-dev", "user": user}}
            ],
            "current-context": "chronos-dev",
        },
        indent=2,
    )


@dataclass
class Cluster:
    """One local control plane whose state lives in ``directory``."""

    directory: Path
    bin_dir: Path = field(default_factory=binaries.ensure_binaries)
    #: None: the loopback-only plane. An address of this machine: ready for a real node.
    node_address: str | None = None
    node_name: str = "chronos-node"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        cmd = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, check=False)
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout + (result.stderr if not check else "")

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 60.0) -> float:
        """Start all components; returns the seconds it took until the API was ready."""
        started = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        pki = self.directory / "pki"
        pki.mkdir(exist_ok=True)
        logs = self.directory / "logs"
        logs.mkdir(exist_ok=True)

        ca = CertificateAuthority(pki)
        hosts: tuple[str, ...] = (LOOPBACK, "localhost", "kubernetes", "kubernetes.default.svc")
        if self.node_address:
            hosts += (
                self.node_address,
                KUBERNETES_SERVICE_IP,
                "kubernetes.default",
                "kubernetes.default.svc.cluster.local",
            )
        serving = ca.issue("apiserver", "kube-apiserver", server_hosts=hosts)
        admin = ca.issue("admin", "chronos-admin", org="system:masters")
        kcm = ca.issue("kcm", "system:kube-controller-manager")
        sa = service_account_keys(pki)

        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        server = f"https://{self.node_address or LOOPBACK}:{api_port}"
        self.kubeconfig.write_text(_kubeconfig(server, ca.pair.cert, admin, "admin"))
        kcm_kubeconfig = self.directory / "kcm.kubeconfig"
        kcm_kubeconfig.write_text(_kubeconfig(server, ca.pair.cert, kcm, "kcm"))
        if self.node_address:
            self._node_credentials(ca, server)

        pids: dict[str, int] = {}
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls=http://{LOOPBACK}:{etcd_port}",
                f"--advertise-client-urls=http://{LOOPBACK}:{etcd_port}",
                f"--listen-peer-urls=http://{LOOPBACK}:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://{LOOPBACK}:{etcd_peer}",
                f"--initial-cluster=default=http://{LOOPBACK}:{etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
            pids,
        )
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                *self._apiserver_address_args(pki),
                "--v=1",
            ],
            logs,
            pids,
        )
        self._write_state(pids, server)
        self._wait_ready(server, ca.pair.cert, admin, started + timeout, pids)
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_kubeconfig}",
                f"--authentication-kubeconfig={kcm_kubeconfig}",
                f"--authorization-kubeconfig={kcm_kubeconfig}",
                f"--controllers={','.join(self.controllers)}",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.pair.cert}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={free_port()}",
                "--concurrent-cron-job-syncs=5",
                "--v=1",
            ],
            logs,
            pids,
        )
        if self.node_address:
            self._spawn("kube-scheduler", self._scheduler_args(), logs, pids)
        self._write_state(pids, server)
        return time.monotonic() - started

    # ------------------------------------------------------------- real node option

    @property
    def controllers(self) -> tuple[str, ...]:
        return CONTROLLERS + (REAL_NODE_CONTROLLERS if self.node_address else ())

    def node_kubeconfig(self, component: str) -> Path:
        """The kubeconfig of ``kubelet``, ``kube-proxy`` or ``kube-scheduler``."""
        return self.directory / f"{component}.kubeconfig"

    def _node_credentials(self, ca: CertificateAuthority, server: str) -> None:
        """Client certificates of the node's components, each in its default RBAC role."""
        users = {
            "kubelet": (f"system:node:{self.node_name}", "system:nodes"),
            "kube-proxy": ("system:kube-proxy", None),
            "kube-scheduler": ("system:kube-scheduler", None),
        }
        for component, (user, group) in users.items():
            pair = ca.issue(component, user, org=group)
            self.node_kubeconfig(component).write_text(
                _kubeconfig(server, ca.pair.cert, pair, component)
            )
        # For logs and exec the API server calls the kubelet, which asks the API server
        # (webhook authorization) whether this user may: system:masters may.
        ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", org="system:masters")

    def _apiserver_address_args(self, pki: Path) -> list[str]:
        if not self.node_address:
            return [
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                "--authorization-mode=RBAC",
                # The "kubernetes" Service cannot point at loopback; nothing here needs it.
                "--endpoint-reconciler-type=none",
            ]
        return [
            # Pods reach the host only on the node address; the default (lease) endpoint
            # reconciler points Service "kubernetes" (10.0.0.1:443) at it.
            f"--bind-address={self.node_address}",
            f"--advertise-address={self.node_address}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            # Otherwise logs/exec resolve the node's name with the machine's resolver.
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _scheduler_args(self) -> list[str]:
        kubeconfig = self.node_kubeconfig("kube-scheduler")
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--v=1",
        ]

    def _spawn(self, name: str, args: list[str], logs: Path, pids: dict[str, int]) -> None:
        log = (logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        pids[name] = proc.pid

    def _write_state(self, pids: dict[str, int], server: str) -> None:
        self.state_file.write_text(json.dumps({"pids": pids, "server": server}))

    def _wait_ready(
        self, server: str, ca: Path, client: Pair, deadline: float, pids: dict[str, int]
    ) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(client.cert), str(client.key))
        last = "no answer yet"
        while time.monotonic() < deadline:
            for name, pid in pids.items():
                if not alive(pid):
                    log = self.directory / "logs" / f"{name}.log"
                    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                    raise ClusterError(f"{name} exited during start-up; end of its log:\n{tail}")
            try:
                with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.25)
        raise ClusterError(f"kube-apiserver not ready in time: {last}")

    def pids(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        pids: dict[str, int] = json.loads(self.state_file.read_text())["pids"]
        return pids

    def stop(self) -> None:
        pids = self.pids()
        if not pids:
            return
        # Reverse start order: the controller manager first, etcd last.
        for pid in reversed(list(pids.values())):
            terminate(pid)
        self.state_file.unlink()

    def running(self) -> bool:
        pids = self.pids()
        return bool(pids) and all(alive(p) for p in pids.values())


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def terminate(pid: int, grace: float = 10.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
