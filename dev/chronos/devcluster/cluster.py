"""A real local control plane: etcd, kube-apiserver and kube-controller-manager.

Modelled on controller-runtime's envtest, plus kube-controller-manager so that
CronJobs really create Jobs and owned objects are really garbage-collected. Everything
listens on loopback only.

This plane has no node: the tests that run pods use the kind cluster
(``chronos.devcluster.kindcluster``).
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from chronos.devcluster import binaries, processes
from chronos.devcluster.certs import CertificateAuthority, Pair, service_account_keys
from chronos.devcluster.files import private_dir, write_private
from chronos.devcluster.processes import Component, alive, terminate

__all__ = ["Cluster", "ClusterError", "alive", "free_port", "port_in_use", "terminate"]

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
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_RANGE = "10.0.0.0/24"


class ClusterError(RuntimeError):
    pass


OLDER_VERSION = (
    "this system was started by an older version of chronos.devcluster, which did not "
    "record how to restart its parts: run `make down` (the state is kept), then `make up`"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """True if something already listens on (or holds) ``127.0.0.1:port``."""
    with socket.socket() as s:
        # As uvicorn and the Go servers do: a port in TIME_WAIT is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


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


def kubectl(
    bin_dir: Path, kubeconfig: Path, *args: str, check: bool = True, input: str | None = None
) -> str:
    """``kubectl`` of ``bin_dir`` against ``kubeconfig``: its output (a failure is a
    ClusterError with ``check``; without it, stderr follows stdout)."""
    cmd = [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, input=input, check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout + (result.stderr if not check else "")


@dataclass
class Cluster:
    """One local control plane whose state lives in ``directory``."""

    directory: Path
    bin_dir: Path = field(default_factory=binaries.ensure_binaries)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        return kubectl(self.bin_dir, self.kubeconfig, *args, check=check, input=input)

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 60.0) -> float:
        """Start all components; returns the seconds it took until the API was ready."""
        started = time.monotonic()
        # Keys, kubeconfigs and tokens live below: nobody else may look in.
        private_dir(self.directory)
        pki = private_dir(self.pki)
        private_dir(self.logs)

        ca = CertificateAuthority(pki)
        hosts: tuple[str, ...] = (LOOPBACK, "localhost", "kubernetes", "kubernetes.default.svc")
        serving = ca.issue("apiserver", "kube-apiserver", server_hosts=hosts)
        admin = ca.issue("admin", "chronos-admin", org="system:masters")
        kcm = ca.issue("kcm", "system:kube-controller-manager")
        # Its own serving certificate from our CA, so that `status` can verify its /healthz.
        kcm_serving = ca.issue(
            "kcm-serving", "kube-controller-manager", server_hosts=(LOOPBACK, "localhost")
        )
        sa = service_account_keys(pki)

        etcd_port, etcd_peer, api_port, kcm_port = (free_port() for _ in range(4))
        server = f"https://{LOOPBACK}:{api_port}"
        write_private(self.kubeconfig, _kubeconfig(server, ca.pair.cert, admin, "admin"))
        kcm_kubeconfig = self.directory / "kcm.kubeconfig"
        write_private(kcm_kubeconfig, _kubeconfig(server, ca.pair.cert, kcm, "kcm"))

        etcd = self._binary(
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
            f"http://{LOOPBACK}:{etcd_port}/health",
        )
        apiserver = self._binary(
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
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                # Also what the admission policies' `authorizer` checks ask.
                "--authorization-mode=RBAC",
                # The "kubernetes" Service cannot point at loopback; nothing here needs it.
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
            f"{server}/readyz",
        )
        controller_manager = self._binary(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_kubeconfig}",
                f"--authentication-kubeconfig={kcm_kubeconfig}",
                f"--authorization-kubeconfig={kcm_kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.pair.cert}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                f"--bind-address={LOOPBACK}",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={kcm_serving.cert}",
                f"--tls-private-key-file={kcm_serving.key}",
                "--concurrent-cron-job-syncs=5",
                "--v=1",
            ],
            f"https://{LOOPBACK}:{kcm_port}/healthz",
        )
        components = [etcd, apiserver, controller_manager]
        for component in (etcd, apiserver):
            processes.spawn(component, self.logs, fresh_log=True)
        self._save(components, server)
        self._wait_answering(apiserver, components, started + timeout)
        for component in components[2:]:
            processes.spawn(component, self.logs, fresh_log=True)
        self._save(components, server)
        return time.monotonic() - started

    def restart_dead(self, timeout: float = 60.0) -> list[str]:
        """Start again, with the recorded arguments and ports, each component that died;
        wait until the API server answers. Returns the names of those restarted."""
        components = self.components()
        if not components:
            raise ClusterError(f"no control plane recorded in {self.state_file}")
        server = json.loads(self.state_file.read_text())["server"]
        deadline = time.monotonic() + timeout
        restarted: list[str] = []
        # In start order: etcd, the API server, the controllers; each restarted one (and the
        # API server in any case) must answer before the next one is looked at.
        for i, component in enumerate(components):
            if not component.alive():
                if not component.argv:
                    raise ClusterError(OLDER_VERSION)
                processes.spawn(component, self.logs, fresh_log=False)
                restarted.append(component.name)
                self._save(components, server)
            if component.name in restarted or component.name == "kube-apiserver":
                self._wait_answering(component, components[: i + 1], deadline)
        return restarted

    def _binary(self, name: str, args: list[str], health: str) -> Component:
        return Component(name=name, argv=[str(self.bin_dir / name), *args], health=health)

    def _save(self, components: list[Component], server: str) -> None:
        processes.save(self.state_file, components, server=server)

    def probe_context(self) -> ssl.SSLContext:
        """TLS for loopback health checks: our CA, the admin's client certificate."""
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def _wait_answering(
        self, target: Component, components: list[Component], deadline: float
    ) -> None:
        context = self.probe_context()
        while time.monotonic() < deadline:
            for component in components:
                if component.pid and not component.alive():
                    tail = processes.log_tail(self.logs, component.name)
                    raise ClusterError(
                        f"{component.name} exited during start-up; end of its log:\n{tail}"
                    )
            if processes.http_answers(target.health, context):
                return
            time.sleep(0.25)
        raise ClusterError(f"{target.name} not ready in time (no answer from {target.health})")

    def components(self) -> list[Component]:
        """The control-plane processes recorded by :meth:`start`, in start order."""
        return processes.load(self.state_file)

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
