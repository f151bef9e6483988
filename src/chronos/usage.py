"""Kubernetes resource quantities and a pod's CPU and memory use, as the metrics API
(``metrics.k8s.io`` PodMetrics) reports them: parsed, summed and put in words. Shared by
the facade's "Running now" figures (``chronos.api.podmetrics``) and the operator's peak
sampling (``chronos.operator.peaks``); pure, unit-tested without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[eE][+-]?[0-9]+)?|[a-zA-Z]*)")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (``"12345678n"``, ``"5m"``, ``"1"``, ``"12345Ki"``,
    ``"12Mi"``, ``"1e3"``) as a number of base units (cores, bytes).

    Raises ValueError for anything else, negative amounts included (usage never is).
    """
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.groups()
    if suffix[:1] in ("e", "E") and suffix[1:]:  # "1e3": a decimal exponent
        number, suffix = number + suffix, ""
    if suffix in _BINARY:
        factor = Decimal(2) ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        factor = Decimal(10) ** _DECIMAL[suffix]
    else:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return value * factor


@dataclass(frozen=True)
class Usage:
    """What a run's pods use now: CPU in cores, memory (working set) in bytes."""

    cpu: Decimal
    memory: Decimal

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu + other.cpu, self.memory + other.memory)


def format_cpu(cores: Decimal) -> str:
    """Millicores as people read them: ``"12 m CPU"``, ``"0.4 m CPU"``, ``"<0.1 m CPU"``,
    ``"1.25 CPU"``."""
    milli = cores * 1000
    if milli >= 1000:
        return f"{cores:.2f} CPU".replace(".00 ", " ")
    if milli >= 10 or milli == 0:
        return f"{milli:.0f} m CPU"
    if milli < Decimal("0.1"):  # busy, if barely: never shown as zero
        return "<0.1 m CPU"
    return f"{milli:.1f} m CPU"


def format_memory(size: Decimal) -> str:
    """Binary units: ``"34 MiB"``, ``"3.5 MiB"``, ``"1.2 GiB"``, ``"900 KiB"``."""
    mib = size / 2**20
    if mib >= 1024:
        return f"{mib / 1024:.1f} GiB"
    if mib >= 10:
        return f"{mib:.0f} MiB"
    if mib >= 1:
        return f"{mib:.1f} MiB"
    return f"{size / 1024:.0f} KiB"


def format_usage(usage: Usage) -> str:
    return f"{format_cpu(usage.cpu)} · {format_memory(usage.memory)}"


def pod_usage(item: dict[str, Any]) -> Usage | None:
    """A PodMetrics item's use, summed over its containers; None when it has none yet
    or a quantity is malformed (no figures rather than an error)."""
    containers = item.get("containers") or []
    if not containers:
        return None
    total = Usage(Decimal(0), Decimal(0))
    try:
        for container in containers:
            usage = container.get("usage") or {}
            total += Usage(
                parse_quantity(str(usage.get("cpu", "0"))),
                parse_quantity(str(usage.get("memory", "0"))),
            )
    except ValueError:
        return None
    return total
