"""``python -m chronos.devcluster {build,up,down,status}``: the local system for development.

``up`` starts the control plane, installs the ChronosJob CRD and applies the sample job.
State lives in ``CHRONOS_DEVCLUSTER_DIR`` (default ``.devcluster`` in the current folder).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chronos.devcluster import binaries
from chronos.devcluster.cluster import Cluster, ClusterError

SAMPLE = "deploy/samples/chronosjob-sample.yaml"
CRD = "deploy/crd/chronosjobs.yaml"


def state_dir() -> Path:
    return Path(os.environ.get("CHRONOS_DEVCLUSTER_DIR", ".devcluster")).resolve()


def install_crd(cluster: Cluster) -> None:
    root = binaries.repo_root()
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(root / CRD))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/chronosjobs.chronos.gluesync.io",
    )


def up() -> None:
    cluster = Cluster(state_dir())
    if cluster.running():
        print(f"already running; kubeconfig: {cluster.kubeconfig}")
        return
    seconds = cluster.start()
    install_crd(cluster)
    cluster.kubectl("apply", "-f", str(binaries.repo_root() / SAMPLE))
    print(f"control plane ready in {seconds:.1f}s (Kubernetes {binaries.kubernetes_version()})")
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  export PATH={cluster.bin_dir}:$PATH")
    print("  kubectl get chronosjobs")
    print("stop it with: python -m chronos.devcluster down")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster", description=__doc__)
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(binaries.ensure_binaries())
        elif args.command == "up":
            up()
        elif args.command == "down":
            Cluster(state_dir(), bin_dir=binaries.bin_dir()).stop()
            print("stopped")
        else:
            running = Cluster(state_dir(), bin_dir=binaries.bin_dir()).running()
            print("running" if running else "stopped")
            sys.exit(0 if running else 1)
    except (ClusterError, binaries.BuildError) as exc:
        sys.exit(f"devcluster: {exc}")


if __name__ == "__main__":
    main()
