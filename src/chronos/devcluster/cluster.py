"""A real local control plane: etcd, kube-apiserver and kube-controller-manager.

Modelled on controller-runtime's envtest, plus kube-controller-manager so that
CronJobs really create Jobs and owned objects are really garbage-collected. Everything
listens on loopback only.
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
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


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
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_hosts=(LOOPBACK, "localhost", "kubernetes", "kubernetes.default.svc"),
        )
        admin = ca.issue("admin", "chronos-admin", org="system:masters")
        kcm = ca.issue("kcm", "system:kube-controller-manager")
        sa = service_account_keys(pki)

        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        server = f"https://{LOOPBACK}:{api_port}"
        self.kubeconfig.write_text(_kubeconfig(server, ca.pair.cert, admin, "admin"))
        kcm_kubeconfig = self.directory / "kcm.kubeconfig"
        kcm_kubeconfig.write_text(_kubeconfig(server, ca.pair.cert, kcm, "kcm"))

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
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                # Also what the admission policies' `authorizer` checks ask (ValidatingAdmission-
                # Policy is GA and on by default since 1.30).
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                # The "kubernetes" Service cannot point at loopback; nothing here needs it.
                "--endpoint-reconciler-type=none",
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
                f"--controllers={','.join(CONTROLLERS)}",
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
        self._write_state(pids, server)
        return time.monotonic() - started

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
