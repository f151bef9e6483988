"""Cached start time and memory of the local control plane (run on demand).

    python bench/devcluster_start.py [--runs 5]

Starts and stops the control plane N times from the cached binaries and prints the
median seconds until the API server is ready, until the CRD is established, and the
resident memory of each component right after start.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from chronos.devcluster.binaries import ensure_binaries
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.install import install_crd


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bin_dir = ensure_binaries()
    ready, crd = [], []
    memory: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            cluster = Cluster(Path(tmp), bin_dir=bin_dir)
            started = time.monotonic()
            try:
                ready.append(cluster.start())
                install_crd(cluster)
                crd.append(time.monotonic() - started)
                time.sleep(2)  # let the controller manager finish starting its controllers
                for name, pid in cluster.pids().items():
                    memory.setdefault(name, []).append(rss_mib(pid))
            finally:
                cluster.stop()
    print(f"runs: {args.runs}")
    print(f"API server ready:  median {statistics.median(ready):.2f}s  (min {min(ready):.2f}s)")
    print(f"CRD established:   median {statistics.median(crd):.2f}s  (min {min(crd):.2f}s)")
    for name, values in memory.items():
        print(f"RSS {name:24} median {statistics.median(values):.0f} MiB")
    total = sum(statistics.median(v) for v in memory.values())
    print(f"RSS total                    {total:.0f} MiB")


if __name__ == "__main__":
    main()
