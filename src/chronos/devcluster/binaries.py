"""The control plane binaries: built once from the pinned Go wrapper module, then cached.

The cache lives outside the repository (``CHRONOS_CACHE_DIR``, default
``~/.cache/chronos``) in a folder keyed by the Kubernetes version and the hash of the
wrapper's go.sum, so a version bump builds afresh and everything else reuses it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class BuildError(RuntimeError):
    pass


def repo_root() -> Path:
    # src/chronos/devcluster/binaries.py -> repository root
    return Path(__file__).resolve().parents[3]


def wrapper_dir() -> Path:
    return repo_root() / "devcluster" / "go"


def kubernetes_version() -> str:
    for line in (wrapper_dir() / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["k8s.io/kubernetes"] and len(parts) >= 2:
            return parts[1]
    raise BuildError("devcluster/go/go.mod does not require k8s.io/kubernetes")


def cache_root() -> Path:
    return Path(os.environ.get("CHRONOS_CACHE_DIR", Path.home() / ".cache" / "chronos"))


def bin_dir() -> Path:
    override = os.environ.get("CHRONOS_KUBE_BIN_DIR")
    if override:
        return Path(override)
    digest = hashlib.sha256((wrapper_dir() / "go.sum").read_bytes()).hexdigest()[:12]
    return cache_root() / f"k8s-{kubernetes_version()}-{digest}" / "bin"


def ensure_binaries() -> Path:
    """Return the folder with the binaries, building them first if the cache lacks them."""
    directory = bin_dir()
    if (directory / ".complete").exists() and all((directory / b).exists() for b in BINARIES):
        return directory
    if os.environ.get("CHRONOS_KUBE_BIN_DIR"):
        raise BuildError(f"CHRONOS_KUBE_BIN_DIR={directory} lacks one of {BINARIES}")
    print(
        f"[devcluster] building the control plane ({kubernetes_version()}) into {directory}; "
        "the first build takes 10-20 minutes on 2 cores, later runs reuse it",
        flush=True,
    )
    started = time.monotonic()
    script = repo_root() / "devcluster" / "build-binaries.sh"
    result = subprocess.run(["bash", str(script), str(directory)], check=False)
    if result.returncode != 0:
        raise BuildError(f"{script} failed with exit code {result.returncode}")
    print(f"[devcluster] control plane built in {time.monotonic() - started:.0f}s", flush=True)
    return directory


# --- helm, for the chart tests: the same build-once-then-cache scheme ----------------


def helm_wrapper_dir() -> Path:
    return repo_root() / "devcluster" / "helm"


def helm_version() -> str:
    for line in (helm_wrapper_dir() / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["helm.sh/helm/v3"] and len(parts) >= 2:
            return parts[1]
    raise BuildError("devcluster/helm/go.mod does not require helm.sh/helm/v3")


def helm_bin_dir() -> Path:
    """Cache folder of helm, keyed by its version and the wrapper's go.sum."""
    digest = hashlib.sha256((helm_wrapper_dir() / "go.sum").read_bytes()).hexdigest()[:12]
    return cache_root() / f"helm-{helm_version()}-{digest}" / "bin"


def ensure_helm() -> Path:
    """Return the path of the helm binary, building it first if the cache lacks it."""
    directory = helm_bin_dir()
    binary = directory / "helm"
    if (directory / ".complete").exists() and binary.exists():
        return binary
    print(
        f"[devcluster] building helm {helm_version()} into {directory}; "
        "the first build takes a few minutes on 2 cores, later runs reuse it",
        flush=True,
    )
    started = time.monotonic()
    script = repo_root() / "devcluster" / "build-helm.sh"
    result = subprocess.run(["bash", str(script), str(directory)], check=False)
    if result.returncode != 0:
        raise BuildError(f"{script} failed with exit code {result.returncode}")
    print(f"[devcluster] helm built in {time.monotonic() - started:.0f}s", flush=True)
    return binary
