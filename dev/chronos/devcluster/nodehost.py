"""What a real node changes on the host, how to undo it, and how to see what is left.

A kubelet, containerd and kube-proxy touch the machine beyond their own folders:
iptables chains (KUBE-*, CNI-*), network namespaces (``/run/netns/cni-*``), a bridge,
cgroups (``kubepods``), mounts, a few fixed paths (``/var/lib/kubelet/device-plugins``,
``/var/log/containers``, ``/var/lib/cni``) and sysctls the kubelet rewrites at start and
cannot be told not to. ``HostSnapshot`` records the host before the node starts;
``restore`` undoes everything the node did; ``leftovers`` lists what is still there
(empty after a clean teardown — the test of teardown asserts exactly that).

Also here: the one forwarding rule that keeps pods on this machine (``guard``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: The bridge the CNI plugin creates for the pod network.
BRIDGE = "chronos0"
#: Our own chain in mangle FORWARD (before filter FORWARD, so kube-proxy's ACCEPT rules there
#: cannot bypass it): forwarded pod traffic may go to the node address and other pods only.
GUARD_CHAIN = "CHRONOS-POD-EGRESS"
#: Chains of kubelet, kube-proxy and the CNI plugins, and ours.
CHAIN_PREFIXES = ("KUBE-", "CNI-", "CHRONOS-")
TABLES = ("filter", "nat", "mangle", "raw")
#: Written by the kubelet (setupKernelTunables), the bridge plugin (ip_forward) or kube-proxy.
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
#: Used by the kubelet, containerd and the CNI plugins whatever their configuration says.
HOST_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni")
NETNS_DIR = Path("/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Names of the node's processes, for the leftover check (matched on argv[0]'s name).
NODE_PROCESSES = (
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "metrics-server",
)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        path = _sysctl_path(name)
        if path.exists():
            values[name] = path.read_text().strip()
    return values


def _run(*cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


# ------------------------------------------------------------------------ snapshot


@dataclass
class HostSnapshot:
    """The host as it was before the node started (kept in the node's folder)."""

    sysctls: dict[str, str]
    paths: list[str]  # of HOST_PATHS, those that existed
    netns_dir: bool
    netns: list[str] = field(default_factory=list)

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(
            sysctls=read_sysctls(),
            paths=[p for p in HOST_PATHS if Path(p).exists()],
            netns_dir=NETNS_DIR.exists(),
            netns=sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.exists() else [],
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> HostSnapshot:
        return cls(**json.loads(path.read_text()))


# --------------------------------------------------------------------------- guard


def guard(pod_cidr: str, node_address: str) -> None:
    """Drop forwarded traffic from pods to anything but the node address and other pods.

    Pods have no other way off the machine (no masquerading, no DNS server outside): this
    is the last line that keeps every packet of a test on this machine.
    """
    unguard(pod_cidr)
    _run("iptables", "-t", "mangle", "-N", GUARD_CHAIN, check=True)
    for rule in (
        ["-d", f"{node_address}/32", "-j", "RETURN"],
        ["-d", pod_cidr, "-j", "RETURN"],
        ["-j", "DROP"],
    ):
        _run("iptables", "-t", "mangle", "-A", GUARD_CHAIN, *rule, check=True)
    _run("iptables", "-t", "mangle", "-I", "FORWARD", "1", *_guard_jump(pod_cidr), check=True)


def _guard_jump(pod_cidr: str) -> list[str]:
    return ["-s", pod_cidr, "-j", GUARD_CHAIN]


def unguard(pod_cidr: str) -> None:
    while _run("iptables", "-t", "mangle", "-D", "FORWARD", *_guard_jump(pod_cidr)).returncode == 0:
        pass
    _run("iptables", "-t", "mangle", "-F", GUARD_CHAIN)
    _run("iptables", "-t", "mangle", "-X", GUARD_CHAIN)


def guard_rules() -> list[str]:
    """The guard chain's rules as ``iptables -S`` prints them (empty if absent)."""
    result = _run("iptables", "-t", "mangle", "-S", GUARD_CHAIN)
    return result.stdout.splitlines() if result.returncode == 0 else []


# -------------------------------------------------------------------------- chains


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def node_chains() -> list[str]:
    """``family/table/chain`` of every KUBE-, CNI- or CHRONOS- chain, IPv4 and IPv6."""
    found = []
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            result = _run(tool, "-t", table, "-S")
            for line in result.stdout.splitlines():
                parts = line.split()
                if parts[:1] == ["-N"] and _ours(parts[1]):
                    found.append(f"{tool}/{table}/{parts[1]}")
    return found


def remove_chains() -> None:
    """Unhook, flush and delete every KUBE-, CNI- and CHRONOS- chain (what --cleanup missed)."""
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            lines = _run(tool, "-t", table, "-S").stdout.splitlines()
            chains = [
                ln.split()[1] for ln in lines if ln.startswith("-N ") and _ours(ln.split()[1])
            ]
            if not chains:
                continue
            for line in lines:
                parts = line.split()
                # Rules of the built-in chains that jump into ours.
                if parts[:1] == ["-A"] and not _ours(parts[1]) and _jumps_to_ours(parts):
                    _run(tool, "-t", table, "-D", *parts[1:])
            for chain in chains:
                _run(tool, "-t", table, "-F", chain)
            for chain in chains:
                _run(tool, "-t", table, "-X", chain)


def _jumps_to_ours(parts: list[str]) -> bool:
    for flag in ("-j", "-g"):
        if flag in parts:
            index = parts.index(flag)
            if index + 1 < len(parts) and _ours(parts[index + 1]):
                return True
    return False


def nft_tables() -> list[str]:
    """nftables tables kube-proxy or the kubelet made (``kube-proxy``, ``kubelet``…)."""
    result = _run("nft", "list", "tables")
    return [ln for ln in result.stdout.splitlines() if re.search(r"\bkube", ln)]


def remove_nft_tables() -> None:
    for line in nft_tables():
        parts = line.split()  # "table ip kube-proxy"
        if len(parts) == 3:
            _run("nft", "delete", "table", parts[1], parts[2])


# ------------------------------------------------------------------------ netns etc


def new_netns(snapshot: HostSnapshot) -> list[str]:
    if not NETNS_DIR.exists():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name not in snapshot.netns)


def remove_netns(snapshot: HostSnapshot) -> None:
    """Delete the pods' network namespaces (their veth ends go with them)."""
    for name in new_netns(snapshot):
        if _run("ip", "netns", "delete", name).returncode != 0:
            path = NETNS_DIR / name
            _run("umount", "-l", str(path))
            path.unlink(missing_ok=True)
    if not snapshot.netns_dir and NETNS_DIR.exists() and not any(NETNS_DIR.iterdir()):
        _run("umount", str(NETNS_DIR))  # ip netns bind-mounts the folder onto itself
        NETNS_DIR.rmdir()


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def remove_bridge() -> None:
    if bridge_exists():
        _run("ip", "link", "delete", BRIDGE)


def mounts_below(*folders: Path) -> list[str]:
    prefixes = [f"{folder}/" for folder in folders] + [f"{NETNS_DIR}/"]
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            point = fields[1].replace("\\040", " ")
            if any(point.startswith(p) for p in prefixes) or point == str(NETNS_DIR):
                points.append(point)
    return points


def unmount_below(*folders: Path) -> None:
    for _ in range(3):  # stacked mounts come off one layer per pass
        points = [p for p in mounts_below(*folders) if not p.startswith(f"{NETNS_DIR}")]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            if _run("umount", point).returncode != 0:
                _run("umount", "-l", point)


def kubepods_cgroups() -> list[str]:
    if not CGROUP_ROOT.exists():
        return []
    return sorted(str(p) for p in CGROUP_ROOT.glob("*/kubepods*") if p.is_dir())


def remove_cgroups() -> None:
    """Remove the kubepods hierarchy in every controller, leaves first."""
    for top in kubepods_cgroups():
        for directory in sorted(Path(top).rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        with contextlib.suppress(OSError):
            Path(top).rmdir()


def remove_host_paths(snapshot: HostSnapshot) -> None:
    for path in HOST_PATHS:
        if path not in snapshot.paths and Path(path).exists():
            unmount_below(Path(path))
            _run("rm", "-rf", "--one-file-system", path)


def restore_sysctls(snapshot: HostSnapshot) -> None:
    for name, value in snapshot.sysctls.items():
        path = _sysctl_path(name)
        try:
            if path.exists() and path.read_text().strip() != value:
                path.write_text(value)
        except OSError:
            pass


def changed_sysctls(snapshot: HostSnapshot) -> dict[str, tuple[str, str]]:
    now = read_sysctls()
    return {k: (v, now.get(k, "?")) for k, v in snapshot.sysctls.items() if now.get(k) != v}


# ------------------------------------------------------------------------ processes


def processes_naming(*needles: str) -> dict[int, str]:
    """PIDs whose command line contains any of ``needles`` (e.g. the run's folder)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        name = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        if name in NODE_PROCESSES and any(n in line for n in needles):
            found[int(entry.name)] = line
    return found


# ------------------------------------------------------------------------ leftovers


def leftovers(
    snapshot: HostSnapshot, folders: tuple[Path, ...], needles: tuple[str, ...]
) -> list[str]:
    """Everything of the node still on the host; empty after a clean teardown."""
    found = [f"process {pid}: {line[:160]}" for pid, line in processes_naming(*needles).items()]
    found += [f"mount {point}" for point in mounts_below(*folders)]
    found += [f"netns {name}" for name in new_netns(snapshot)]
    if bridge_exists():
        found.append(f"link {BRIDGE}")
    found += [f"chain {chain}" for chain in node_chains()]
    found += [f"nft {table}" for table in nft_tables()]
    found += [f"cgroup {path}" for path in kubepods_cgroups()]
    found += [
        f"path {path}" for path in HOST_PATHS if path not in snapshot.paths and Path(path).exists()
    ]
    if not snapshot.netns_dir and NETNS_DIR.exists():
        found.append(f"path {NETNS_DIR}")
    found += [
        f"sysctl {k}={now} (was {was})" for k, (was, now) in changed_sysctls(snapshot).items()
    ]
    return found
