"""The processes of a kind node as the host sees them, for the benchmarks' CPU and memory.

A kind node is a container of the project's Docker engine: its systemd, containerd, the
kubelet and every pod it runs (the control plane's static pods, kube-proxy, CoreDNS,
metrics-server, the runner pods) are ordinary host processes, visible in the host's
``/proc``. They are told apart from the rest of the machine by their cgroups: every
process of the node lives below the container's cgroup (``/docker/<container id>/…`` on
this host's cgroup v1), whatever PID namespace its pod has. Named by the base name of
their ``argv[0]``; the node's pods are also accounted together by the kubelet's
``kubepods`` cgroup below the container's, whose ``cpuacct.usage`` keeps counting the CPU
of pods that have ended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The node's own processes reported one by one (the rest are pods' or systemd's).
SYSTEM = (
    "kube-apiserver",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "containerd",
    "kube-proxy",
    "coredns",
    "metrics-server",
    "local-path-provisioner",
)
#: The processes of pods that are not runners: the static pods and the system add-ons.
SYSTEM_PODS = (
    "kube-apiserver",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "coredns",
    "metrics-server",
    "local-path-provisioner",
)
SHIM = "containerd-shim-runc-v2"
#: The kubelet's pods cgroup below the node's: systemd driver (kind's), then cgroupfs.
KUBEPODS = ("kubelet.slice/kubelet-kubepods.slice", "kubelet/kubepods")
CPUACCT_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/cpu,cpuacct"))


@dataclass(frozen=True)
class NodeContainer:
    """The node's container: its full id and its init's host PID."""

    id: str
    init_pid: int


def node_container(engine: Any, name: str) -> NodeContainer:
    """``engine``: an ``images.Engine`` (typed loosely: the pure helpers here need none)."""
    out = engine.docker("inspect", "--format", "{{json .Id}} {{json .State.Pid}}", name).stdout
    container, pid = out.split()
    return NodeContainer(json.loads(container), int(pid))


# ------------------------------------------------------------------ pure helpers


def in_container(cgroup: str, container: str) -> bool:
    """Whether a ``/proc/<pid>/cgroup`` text puts the process in that container's cgroups
    (v1 ``/docker/<id>/…``, v2 ``…/docker-<id>.scope/…``)."""
    return any(container in line.split(":", 2)[-1] for line in cgroup.splitlines())


def process_name(cmdline: bytes) -> str:
    """The base name of ``argv[0]`` from ``/proc/<pid>/cmdline`` ("" for a kernel thread)."""
    argv0 = cmdline.split(b"\0", 1)[0].decode(errors="replace")
    return argv0.rsplit("/", 1)[-1]


def container_cpuacct(cgroup: str, container: str) -> str | None:
    """The container's own cpuacct cgroup (cgroup v1), from the ``/proc/<pid>/cgroup``
    text of any of its processes: the path up to the container's id (systemd inside the
    node may have put the process in a cgroup below it)."""
    for line in cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(",") and container in path:
            return path[: path.index(container) + len(container)]
    return None


def by_name(processes: Mapping[int, str], values: Mapping[int, float]) -> dict[str, float]:
    """``values`` per PID summed per process name."""
    out: dict[str, float] = {}
    for pid, name in processes.items():
        if pid in values:
            out[name] = out.get(name, 0.0) + values[pid]
    return out


# ------------------------------------------------------------------ reading /proc


def _read(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:  # the process ended meanwhile
        return None


def node_processes(container: NodeContainer) -> dict[int, str]:
    """PID → name of every host process in the node container's cgroups (not kernel
    threads)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cgroup = _read(f"/proc/{entry}/cgroup")
        if cgroup is None or not in_container(cgroup.decode(errors="replace"), container.id):
            continue
        name = process_name(_read(f"/proc/{entry}/cmdline") or b"")
        if name:
            found[int(entry)] = name
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` (0 if it is gone)."""
    text = _read(f"/proc/{pid}/status")
    for line in (text or b"").decode(errors="replace").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpuacct_usage(relative: str) -> float | None:
    for root in CPUACCT_ROOTS:
        path = root / relative.lstrip("/") / "cpuacct.usage"
        if path.exists():
            return int(path.read_text()) / 1e9
    return None


def container_cpu_seconds(container: NodeContainer, below: Iterable[str] = ("",)) -> float:
    """CPU seconds of the node container's cgroup (or the first of ``below`` it that
    exists: :data:`KUBEPODS`), from cgroup v1's ``cpuacct``; 0 if none is found."""
    cgroup = _read(f"/proc/{container.init_pid}/cgroup")
    base = container_cpuacct(cgroup.decode(), container.id) if cgroup else None
    if base is None:
        return 0.0
    for sub in below:
        usage = _cpuacct_usage(f"{base}/{sub}" if sub else base)
        if usage is not None:
            return usage
    return 0.0
