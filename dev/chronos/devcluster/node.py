"""A real node for the local control plane: containerd, kubelet and kube-proxy.

The control plane must be started with ``Cluster(node_address=...)`` (API server on that
address, kube-scheduler, node controllers, the node's certificates). ``RealNode`` then
starts containerd with a root, state and socket of its own, the kubelet and kube-proxy,
all built from the pinned wrapper module (``binaries.NODE_BINARIES``) or taken from
Debian's packages (containerd, runc, the CNI plugins; installed when missing). No
registry is reachable: the pause image is made here from a tiny static C program and the
project's images are imported from its own Docker build (``import_image``).

Network safety: pods reach only this machine. The API server and everything pods call
listen on the node address; pods get a resolver file naming only loopback; and one
iptables rule (``nodehost.guard``) drops forwarded pod traffic to any other address.

``stop`` leaves nothing on the host (see ``nodehost``); it works from another process too,
since the node's PIDs and the host's prior state are kept in its folder. One real node
per machine at a time: the kubelet and kube-proxy use fixed paths, ports and chains.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chronos.devcluster import metrics, nodehost, processes
from chronos.devcluster.binaries import cache_root, ensure_metrics_server
from chronos.devcluster.cluster import Cluster, alive, terminate
from chronos.devcluster.images import Engine, Log, _apt_install

POD_CIDR = "10.88.0.0/16"
CNI_NETWORK = "chronos"
PAUSE_IMAGE = "chronos.local/pause:1"
NAMESPACE = "k8s.io"  # containerd's namespace for the CRI
#: ``status`` health checks of containerd: ``containerd:<socket>`` answered by ``ctr version``.
CONTAINERD_PREFIX = "containerd:"
#: Where the host-wide marker of the running node lives (one real node per machine).
MARKER = Path("/run/chronos-realnode.json")
#: A file of each Debian package we need, and the package.
PACKAGES = {
    "/usr/bin/containerd": "containerd",
    "/usr/sbin/runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "/usr/sbin/iptables": "iptables",
    "/usr/sbin/conntrack": "conntrack",
    "/usr/bin/gcc": "gcc",
    "/usr/include/stdio.h": "libc6-dev",
}
CNI_BIN_DIR = "/usr/lib/cni"

#: The pause container: holds the pod's namespaces, reaps children, exits on TERM/INT.
PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction term = {.sa_handler = stop}, child = {.sa_handler = reap};
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGTERM, &term, 0);
    sigaction(SIGINT, &term, 0);
    sigaction(SIGCHLD, &child, 0);
    for (;;) pause();
}
"""


class NodeError(RuntimeError):
    pass


def _print(line: str) -> None:
    print(f"[node] {line}", flush=True)


def node_address() -> str:
    """This machine's primary address (``CHRONOS_NODE_ADDRESS`` overrides).

    The address of the interface of the default route: pods reach the host there (not on
    its loopback), and traffic to it never leaves the machine.
    """
    override = os.environ.get("CHRONOS_NODE_ADDRESS")
    if override:
        return override
    routes = json.loads(_out("ip", "-j", "-4", "route", "show", "default") or "[]")
    devices = [r["dev"] for r in routes if "dev" in r] or ["eth0"]
    for entry in json.loads(_out("ip", "-j", "-4", "addr", "show", "dev", devices[0]) or "[]"):
        for info in entry.get("addr_info", []):
            if info.get("family") == "inet" and info.get("scope") == "global":
                return str(info["local"])
    raise NodeError("no IPv4 address on the default route's interface; set CHRONOS_NODE_ADDRESS")


def _out(*cmd: str) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False).stdout


def ensure_node_tools(log: Log = _print) -> None:
    """Install containerd, runc, the CNI plugins, iptables, conntrack, gcc when missing."""
    if os.geteuid() != 0:
        raise NodeError("a real node needs root (containerd, network namespaces, iptables)")
    missing = sorted({pkg for path, pkg in PACKAGES.items() if not Path(path).exists()})
    if missing:
        _apt_install(missing, log)


# -------------------------------------------------------------------------- pause


def _layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def docker_archive(tag: str, files: dict[str, tuple[bytes, int]], entrypoint: list[str]) -> bytes:
    """A one-layer image in ``docker save``'s format, which ``ctr images import`` reads."""
    layer = _layer(files)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Entrypoint": entrypoint, "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "chronos.devcluster"}],
        },
        sort_keys=True,
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]
    ).encode()
    return _layer(
        {
            config_name: (config, 0o644),
            f"{diff_id}/layer.tar": (layer, 0o644),
            "manifest.json": (manifest, 0o644),
        }
    )


def pause_archive(log: Log = _print) -> Path:
    """The pause image as a docker-archive tar, built once with ``gcc -static`` and cached."""
    digest = hashlib.sha256(PAUSE_C.encode()).hexdigest()[:12]
    folder = cache_root() / "images"
    archive = folder / f"pause-{digest}.tar"
    if archive.exists():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    log("building the pause image (gcc -static)")
    source, binary = folder / f"pause-{digest}.c", folder / f"pause-{digest}"
    source.write_text(PAUSE_C)
    result = subprocess.run(
        ["gcc", "-Os", "-static", "-s", "-o", str(binary), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise NodeError(f"gcc failed to build the pause program:\n{result.stderr}")
    data = docker_archive(PAUSE_IMAGE, {"pause": (binary.read_bytes(), 0o755)}, ["/pause"])
    partial = archive.with_suffix(".part")
    partial.write_bytes(data)
    partial.rename(archive)
    source.unlink()
    binary.unlink()
    return archive


# -------------------------------------------------------------------------- configs


def containerd_config(
    root: Path, state: Path, socket: Path, runc_root: Path, cni_conf: Path
) -> str:
    """containerd 1.6's config (version 2): every path its own, dockerd's untouched."""
    return f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  # The machine's bounding set lacks CAP_SYS_RESOURCE: even root cannot lower
  # oom_score_adj, and without this every sandbox fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  enable_selinux = false
  # Pods' network namespaces under the state folder rather than /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{runc_root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
"""


def cni_config(pod_cidr: str, ipam_dir: Path) -> dict[str, Any]:
    """A bridge with the host as gateway; no masquerading, so nothing is NATed off-machine."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": nodehost.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }


def kubelet_config(
    *, address: str, pki: Path, socket: Path, logs: Path, resolv: Path
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        # Served with a certificate of the cluster CA (metrics-server verifies it).
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        # The kubelet would lower its own oom_score_adj, which root cannot here.
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "imageServiceEndpoint": f"unix://{socket}",
        # Images cannot be pulled again (no registry): never collect or evict them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "podLogsDir": str(logs),
        # No cluster DNS; pods that fall back to the node's resolver get only loopback.
        "resolvConf": str(resolv),
        "serializeImagePulls": False,
        "registerNode": True,
    }


# ---------------------------------------------------------------------------- node


@dataclass
class RealNode:
    """The node of ``cluster`` (started with ``node_address``); state under its folder."""

    cluster: Cluster
    pod_cidr: str = POD_CIDR
    log: Log = _print
    #: Images stay across runs (no registry to pull them from again).
    containerd_root: Path = field(default_factory=lambda: cache_root() / "containerd")

    def __post_init__(self) -> None:
        if not self.cluster.node_address:
            raise NodeError("the cluster was not started for a real node (node_address)")
        self.address: str = self.cluster.node_address
        self.name: str = self.cluster.node_name
        self.directory = self.cluster.directory / "node"

    @classmethod
    def recorded(cls, directory: Path, bin_dir: Path) -> RealNode:
        """The node recorded in the cluster folder ``directory``, for ``status`` and
        ``stop`` from another process (``status`` probes metrics-server on its address)."""
        state = directory / "node" / "node.json"
        address = json.loads(state.read_text()).get("address") if state.exists() else None
        return cls(Cluster(directory, bin_dir=bin_dir, node_address=address or "(recorded)"))

    # paths
    @property
    def socket(self) -> Path:
        return self.directory / "containerd" / "containerd.sock"

    @property
    def state_file(self) -> Path:
        return self.directory / "node.json"

    @property
    def snapshot_file(self) -> Path:
        return self.directory / "host-before.json"

    @property
    def bin_dir(self) -> Path:
        return self.cluster.bin_dir

    def _logs(self) -> Path:
        return self.cluster.directory / "logs"

    # ------------------------------------------------------------------ start

    def start(self, timeout: float = 90.0) -> float:
        """Start containerd, the kubelet and kube-proxy; seconds from kubelet start to Ready."""
        ensure_node_tools(self.log)
        # Its first build takes minutes: before anything runs, not while the node waits.
        ensure_metrics_server()
        self._claim_machine()
        self.directory.mkdir(parents=True, exist_ok=True)
        snapshot = nodehost.HostSnapshot.take()
        snapshot.save(self.snapshot_file)
        pids: dict[str, int] = {}
        self._write_state(pids)
        try:
            self._start_containerd(pids)
            self._import_archive(pause_archive(self.log), "pause")
            self._write_configs()
            nodehost.guard(self.pod_cidr, self.address)
            # A Node left by a run that died must not count as Ready for this one.
            self.cluster.kubectl("delete", "node", self.name, "--ignore-not-found")
            started = time.monotonic()
            self._spawn("kubelet", self._kubelet_args(), pids)
            self._wait_ready(started + timeout, pids)
            ready = time.monotonic() - started
            self._spawn("kube-proxy", self._proxy_args(), pids)
            metrics.install(self.cluster, self.address)
            self._spawn("metrics-server", self._args("metrics-server"), pids)
            self._wait_answering("metrics-server", pids, time.monotonic() + 30)
        except BaseException:
            self.stop()
            raise
        return ready

    def _claim_machine(self) -> None:
        """Only one real node per machine: a live one elsewhere is an error, a dead one cleaned."""
        if MARKER.exists():
            other = Path(json.loads(MARKER.read_text())["directory"])
            state = other / "node" / "node.json"
            pids = json.loads(state.read_text())["pids"] if state.exists() else {}
            if other != self.cluster.directory and any(alive(p) for p in pids.values()):
                raise NodeError(
                    f"a real node already runs on this machine (folder {other}); stop it first"
                )
            self.log(f"cleaning up after an earlier node (folder {other})")
            _stop_at(other, self.log)
        MARKER.write_text(json.dumps({"directory": str(self.cluster.directory)}))

    def _spawn(self, name: str, cmd: list[str], pids: dict[str, int]) -> None:
        with (self._logs() / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pids[name] = proc.pid
        self._write_state(pids)

    def _write_state(self, pids: dict[str, int]) -> None:
        """What ``stop`` needs, also from another process (``make down``)."""
        state = {
            "pids": pids,
            "name": self.name,
            "address": self.address,
            "pod_cidr": self.pod_cidr,
            "containerd_root": str(self.containerd_root),
            "bin_dir": str(self.bin_dir),
        }
        self.state_file.write_text(json.dumps(state))

    def ctr(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        cmd = ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args]
        result = subprocess.run(cmd, capture_output=True, input=input, check=False)
        if check and result.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)} failed: {result.stderr.decode()[-2000:]}")
        return result.stdout.decode()

    def _start_containerd(self, pids: dict[str, int]) -> None:
        base = self.directory / "containerd"
        base.mkdir(parents=True, exist_ok=True)
        self.containerd_root.mkdir(parents=True, exist_ok=True)
        (self.directory / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
        config = base / "config.toml"
        config.write_text(
            containerd_config(
                self.containerd_root,
                base / "state",
                self.socket,
                base / "runc",
                self.directory / "cni" / "net.d",
            )
        )
        self._spawn("containerd", self._args("containerd"), pids)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not alive(pids["containerd"]):
                raise NodeError(f"containerd exited:\n{self._tail('containerd')}")
            if self.socket.exists() and self.ctr("version", check=False):
                return
            time.sleep(0.1)
        raise NodeError(f"containerd did not answer in 30 s:\n{self._tail('containerd')}")

    def _tail(self, name: str) -> str:
        path = self._logs() / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _write_configs(self) -> None:
        cni = cni_config(self.pod_cidr, self.directory / "cni" / "ipam")
        (self.directory / "cni" / "net.d" / "10-chronos.conflist").write_text(json.dumps(cni))
        resolv = self.directory / "resolv.conf"
        resolv.write_text(
            "# No resolver that leaves this machine: names do not resolve.\n"
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
        )
        config = kubelet_config(
            address=self.address,
            pki=self.cluster.pki,
            socket=self.socket,
            logs=self.directory / "pod-logs",
            resolv=resolv,
        )
        (self.directory / "kubelet.json").write_text(json.dumps(config, indent=2))

    def _kubelet_args(self) -> list[str]:
        return [
            str(self.bin_dir / "kubelet"),
            f"--config={self.directory / 'kubelet.json'}",
            f"--kubeconfig={self.cluster.node_kubeconfig('kubelet')}",
            f"--root-dir={self.directory / 'kubelet'}",
            f"--cert-dir={self.directory / 'kubelet-pki'}",
            f"--node-ip={self.address}",
            f"--hostname-override={self.name}",
            "--v=1",
        ]

    def _proxy_args(self) -> list[str]:
        return [
            str(self.bin_dir / "kube-proxy"),
            f"--kubeconfig={self.cluster.node_kubeconfig('kube-proxy')}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={self.pod_cidr}",
            f"--hostname-override={self.name}",
            f"--bind-address={self.address}",
            f"--nodeport-addresses={self.address}/32",
            # None of these may change the host's sysctls.
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--iptables-localhost-nodeports=false",
            "--healthz-bind-address=127.0.0.1:10256",
            "--metrics-bind-address=127.0.0.1:10249",
            "--v=1",
        ]

    # ------------------------------------------------------------- restart

    #: The node's processes in start order, and how ``status`` probes each.
    PROCESSES = ("containerd", "kubelet", "kube-proxy", "metrics-server")

    def pids(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        pids: dict[str, int] = json.loads(self.state_file.read_text())["pids"]
        return pids

    def health(self, name: str) -> str:
        return {
            "containerd": f"{CONTAINERD_PREFIX}{self.socket}",
            "kubelet": "http://127.0.0.1:10248/healthz",
            "kube-proxy": "http://127.0.0.1:10256/healthz",
            "metrics-server": metrics.health(self.address),
        }[name]

    def _args(self, name: str) -> list[str]:
        if name == "containerd":
            return ["containerd", "--config", str(self.directory / "containerd" / "config.toml")]
        if name == "metrics-server":
            return metrics.args(self.cluster, self.address)
        return self._kubelet_args() if name == "kubelet" else self._proxy_args()

    def restart_dead(self, timeout: float = 60.0) -> list[str]:
        """Start again each node process that died (containerd first); wait until the
        node is Ready. Returns the names of those restarted."""
        pids = self.pids()
        restarted = []
        for name in self.PROCESSES:
            if name in pids and alive(pids[name]):
                continue
            if name == "containerd":
                self._start_containerd(pids)
            elif name == "metrics-server":
                metrics.install(self.cluster, self.address)  # idempotent, and cheap
                self._spawn(name, self._args(name), pids)
            else:
                self._spawn(name, self._args(name), pids)
            restarted.append(name)
        if restarted:
            self._wait_ready(time.monotonic() + timeout, pids)
        return restarted

    # ----------------------------------------------------------------- api

    def api(self, path: str) -> Any:
        """GET ``path`` from the API server as the admin (JSON)."""
        return api_get(self.cluster, path)

    def ready(self) -> bool:
        try:
            node = self.api(f"/api/v1/nodes/{self.name}")
        except (urllib.error.URLError, OSError):
            return False
        conditions = node.get("status", {}).get("conditions", [])
        taints = node.get("spec", {}).get("taints") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        # Schedulable only once the node-lifecycle controller removed the not-ready taint.
        return ready and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints)

    def wait_pod_ended(
        self, namespace: str, name: str, timeout: float = 90.0, poll: float = 0.1
    ) -> str:
        """Wait until the pod ends and return its phase (Succeeded or Failed); the one
        pod-waiting loop of the real node's tests and benchmark."""
        deadline = time.monotonic() + timeout
        phase = "unknown"
        while time.monotonic() < deadline:
            pod = self.api(f"/api/v1/namespaces/{namespace}/pods/{name}")
            phase = pod.get("status", {}).get("phase") or "unknown"
            if phase in ("Succeeded", "Failed"):
                return phase
            time.sleep(poll)
        raise NodeError(f"pod {namespace}/{name} still {phase} after {timeout:.0f} s")

    def _wait_answering(self, name: str, pids: dict[str, int], deadline: float) -> None:
        context = self.cluster.probe_context()
        while not processes.http_answers(self.health(name), context):
            if not alive(pids[name]) or time.monotonic() > deadline:
                raise NodeError(f"{name} did not start:\n{self._tail(name)}")
            time.sleep(0.2)

    def _wait_ready(self, deadline: float, pids: dict[str, int]) -> None:
        while time.monotonic() < deadline:
            if not alive(pids["kubelet"]):
                raise NodeError(f"kubelet exited:\n{self._tail('kubelet')}")
            if self.ready():
                return
            time.sleep(0.1)
        raise NodeError(f"node {self.name} not Ready in time:\n{self._tail('kubelet')}")

    # --------------------------------------------------------------- images

    def _import_archive(self, archive: Path, what: str) -> None:
        marker = self.containerd_root / "imported" / f"{what}.id"
        key = hashlib.sha256(archive.read_bytes()).hexdigest()
        if marker.exists() and marker.read_text() == key and self._has(PAUSE_IMAGE):
            return
        self.ctr("images", "import", str(archive))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(key)

    def _has(self, ref: str) -> bool:
        return ref in self.ctr("images", "ls", "-q", check=False).split()

    def import_image(self, engine: Engine, tag: str) -> float:
        """Copy ``tag`` from the Docker engine into containerd (skipped if unchanged).

        containerd names it ``docker.io/library/<tag>``, which the kubelet resolves from
        ``<tag>``. Returns the seconds it took.
        """
        started = time.monotonic()
        image_id = engine.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        marker = self.containerd_root / "imported" / f"{tag.replace('/', '_')}.id"
        full = tag if "/" in tag else f"docker.io/library/{tag}"
        if marker.exists() and marker.read_text() == image_id and self._has(full):
            return time.monotonic() - started
        self.log(f"importing {tag} into containerd")
        save = subprocess.Popen([engine.cli, "save", tag], env=engine.env(), stdout=subprocess.PIPE)
        assert save.stdout is not None
        result = subprocess.run(
            [
                "ctr",
                "--address",
                str(self.socket),
                "--namespace",
                NAMESPACE,
                "images",
                "import",
                "-",
            ],
            stdin=save.stdout,
            capture_output=True,
            check=False,
        )
        save.stdout.close()
        if save.wait() != 0 or result.returncode != 0:
            raise NodeError(f"importing {tag} failed: {result.stderr.decode()[-2000:]}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(image_id)
        return time.monotonic() - started

    # ---------------------------------------------------------------- stop

    def stop(self) -> None:
        _stop_at(self.cluster.directory, self.log)

    def leftovers(self) -> list[str]:
        """What of this node is still on the host (empty once stopped)."""
        if not self.snapshot_file.exists():
            raise NodeError(f"no record of the host before the node started ({self.snapshot_file})")
        snapshot = nodehost.HostSnapshot.load(self.snapshot_file)
        found = nodehost.leftovers(
            snapshot, (self.directory, self.containerd_root), (str(self.cluster.directory),)
        )
        if self.state_file.exists():
            found.append(f"path {self.state_file}")
        return found


def _delete_pods(cluster: Cluster, name: str, log: Log, timeout: float = 20.0) -> None:
    """Delete the node's pods and let the kubelet tear their sandboxes down (CNI DEL)."""
    path = f"/api/v1/pods?fieldSelector=spec.nodeName%3D{name}"
    try:
        pods = api_get(cluster, path)["items"]
    except (urllib.error.URLError, OSError):
        return
    # Cordoned first: a Deployment's replacement pods must not land here again.
    cluster.kubectl("cordon", name, check=False)
    args = ["delete", "pods", "--grace-period=1", "--wait=false", "--ignore-not-found"]
    for pod in pods:
        meta = pod["metadata"]
        cluster.kubectl(*args, "-n", meta["namespace"], meta["name"], check=False)
    deadline = time.monotonic() + timeout
    while pods and time.monotonic() < deadline:
        try:
            pods = api_get(cluster, path)["items"]
        except (urllib.error.URLError, OSError):
            return
        time.sleep(0.2)
    if pods:
        log(f"pods still on {name} after {timeout:.0f} s; removing their containers directly")


def _stop_at(cluster_dir: Path, log: Log) -> None:
    """Tear down the node of the cluster in ``cluster_dir`` and restore the host."""
    directory = cluster_dir / "node"
    state_file = directory / "node.json"
    snapshot_file = directory / "host-before.json"
    if not state_file.exists() or not snapshot_file.exists():
        return
    state = json.loads(state_file.read_text())
    pids: dict[str, int] = state["pids"]
    root = Path(state["containerd_root"])
    cluster = Cluster(cluster_dir, bin_dir=Path(state["bin_dir"]))
    if "kubelet" in pids and alive(pids["kubelet"]) and cluster.running():
        _delete_pods(cluster, state["name"], log)
    if "metrics-server" in pids:
        terminate(pids["metrics-server"])
    if "kube-proxy" in pids:
        terminate(pids["kube-proxy"])
    # Removes kube-proxy's rules whether or not it ran to the end.
    proxy = cluster.bin_dir / "kube-proxy"
    subprocess.run([str(proxy), "--cleanup"], capture_output=True, check=False)
    if "kubelet" in pids:
        terminate(pids["kubelet"])
    if cluster.running():
        # A later start must register afresh, not find a Node still marked Ready.
        cluster.kubectl("delete", "node", state["name"], "--ignore-not-found", check=False)
    socket = directory / "containerd" / "containerd.sock"
    if "containerd" in pids and alive(pids["containerd"]):
        ctr = ["ctr", "--address", str(socket), "--namespace", NAMESPACE]
        tasks = _out(*ctr, "tasks", "ls", "-q").split()
        for task in tasks:
            _out(*ctr, "tasks", "kill", "--signal", "SIGKILL", task)
        for task in tasks:
            _out(*ctr, "tasks", "delete", "--force", task)
        for container in _out(*ctr, "containers", "ls", "-q").split():
            _out(*ctr, "containers", "delete", container)
        terminate(pids["containerd"])
    # Shims outlive containerd; they name the run's folder in their arguments.
    terminate(*nodehost.processes_naming(str(cluster_dir)), grace=5.0, group=False)
    snapshot = nodehost.HostSnapshot.load(snapshot_file)
    nodehost.remove_netns(snapshot)
    nodehost.remove_bridge()
    nodehost.unguard(state["pod_cidr"])
    nodehost.remove_chains()
    nodehost.remove_nft_tables()
    nodehost.unmount_below(directory, root)
    nodehost.remove_cgroups()
    nodehost.remove_host_paths(snapshot)
    nodehost.restore_sysctls(snapshot)
    # The CRI plugin's records of removed sandboxes; the images stay.
    shutil.rmtree(root / "io.containerd.grpc.v1.cri", ignore_errors=True)
    for child in ("containerd", "kubelet", "cni", "pod-logs", "kubelet-pki"):
        shutil.rmtree(directory / child, ignore_errors=True)
    state_file.unlink()
    if MARKER.exists() and json.loads(MARKER.read_text()).get("directory") == str(cluster_dir):
        MARKER.unlink()


def containerd_answers(socket: str) -> bool:
    cmd = ["ctr", "--address", socket, "--namespace", NAMESPACE, "version"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=5, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def api_get(cluster: Cluster, path: str) -> Any:
    """GET ``path`` from the cluster's API server as its admin (JSON)."""
    pki = cluster.directory / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    server = json.loads(cluster.state_file.read_text())["server"]
    with urllib.request.urlopen(f"{server}{path}", context=context, timeout=5) as r:  # noqa: S310
        return json.loads(r.read())


def main(argv: list[str] | None = None) -> int:
    """``python -m chronos.devcluster.node down|status``: the machine's real node, if any.

    ``down`` tears down a node a killed process left running (its control plane stays;
    ``python -m chronos.devcluster down`` stops that), and restores the host.
    """
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster.node")
    parser.add_argument("command", choices=("down", "status"))
    args = parser.parse_args(argv)
    if not MARKER.exists():
        print("no real node on this machine")
        return 0
    cluster_dir = Path(json.loads(MARKER.read_text())["directory"])
    state = cluster_dir / "node" / "node.json"
    pids = json.loads(state.read_text())["pids"] if state.exists() else {}
    running = {name: pid for name, pid in pids.items() if alive(pid)}
    print(f"real node of {cluster_dir}: running {running or 'nothing'}")
    if args.command == "down":
        _stop_at(cluster_dir, _print)
        snapshot = cluster_dir / "node" / "host-before.json"
        if snapshot.exists():
            left = nodehost.leftovers(
                nodehost.HostSnapshot.load(snapshot),
                (cluster_dir / "node", cache_root() / "containerd"),
                (str(cluster_dir),),
            )
            for entry in left:
                print(f"left behind: {entry}", file=sys.stderr)
            return 1 if left else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
