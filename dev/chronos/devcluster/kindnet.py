"""The kind network on this host, and the one rule that keeps its traffic on this machine.

The project's Docker engine runs with ``--iptables=false --ip-forward=false``: it adds no
NAT and turns no forwarding on, so a node's packet to another address reaches the host
and, with ``net.ipv4.ip_forward=0``, ends there. Forwarding is a host-wide switch that
other software may turn on, though; so the network's bridge has a fixed name
(:data:`BRIDGE`) and one rule in mangle FORWARD (before any filter rule can accept it)
drops whatever would be forwarded from that bridge to anywhere but the bridge itself.
Pods reach this host's address on the network (the fake CoreHub listens there): that is
local delivery, not forwarding.
"""

from __future__ import annotations

import subprocess
from typing import Any

from chronos.devcluster.images import ImageError

#: The Docker network kind puts its nodes on (kind uses an existing one as it is).
NETWORK = "kind"
#: Its bridge's name (``com.docker.network.bridge.name``; at most 15 characters).
BRIDGE = "chronos-kind0"
GUARD = ("-i", BRIDGE, "!", "-o", BRIDGE, "-m", "comment", "--comment", "chronos-kind-egress")


def ipv4_gateway(network: dict[str, Any]) -> str:
    """This host's IPv4 address on a Docker network (``docker network inspect`` JSON)."""
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = config.get("Gateway") or ""
        if gateway.count(".") == 3:
            return str(gateway)
    raise ImageError(f"the Docker network {network.get('Name')!r} has no IPv4 gateway")


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "-t", "mangle", *args], capture_output=True, text=True, check=False
    )


def guarded() -> bool:
    return _iptables("-C", "FORWARD", *GUARD, "-j", "DROP").returncode == 0


def guard() -> None:
    """Put the rule in place (once)."""
    if guarded():
        return
    result = _iptables("-I", "FORWARD", *GUARD, "-j", "DROP")
    if result.returncode != 0:
        raise ImageError(f"cannot add the kind network's egress guard:\n{result.stderr}")


def unguard() -> None:
    while guarded():
        _iptables("-D", "FORWARD", *GUARD, "-j", "DROP")


def drops() -> int:
    """Packets the rule dropped so far (0 when it is not in place)."""
    listing = _iptables("-L", "FORWARD", "-v", "-x", "-n").stdout
    for line in listing.splitlines():
        if "chronos-kind-egress" in line and line.split()[2:3] == ["DROP"]:
            return int(line.split()[0])
    return 0
