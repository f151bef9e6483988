"""The Kubernetes binaries (the tests' bare control plane, kind's node image) and the Go
tools: built once from pinned Go wrapper modules.

The cache lives outside the repository (``CHRONOS_CACHE_DIR``, default
``~/.cache/chronos``) in a folder keyed by the Kubernetes version and the hash of the
wrapper's go.sum, so a version bump builds afresh and everything else reuses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CONTROL_PLANE_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
#: What kind's node image adds (``chronos.devcluster.kindcluster``): same build, same cache.
KIND_NODE_BINARIES = ("kube-scheduler", "kubelet", "kube-proxy", "kubeadm")
BINARIES = CONTROL_PLANE_BINARIES + KIND_NODE_BINARIES


class BuildError(RuntimeError):
    pass


#: The pinned Go wrapper modules and their build scripts live beside this module.
HERE = Path(__file__).resolve().parent


def repo_root() -> Path:
    # dev/chronos/devcluster/binaries.py -> repository root
    return HERE.parents[2]


@dataclass(frozen=True)
class GoBuild:
    """Binaries built by ``script`` from the pinned wrapper module ``devcluster/<folder>``."""

    name: str  # of the cache folder
    folder: str
    module: str  # the requirement whose version names the build
    script: str
    binaries: tuple[str, ...]
    note: str
    #: Arguments to ``script`` before the output folder.
    script_args: tuple[str, ...] = ()

    @property
    def wrapper(self) -> Path:
        return HERE / self.folder

    def version(self) -> str:
        for line in (self.wrapper / "go.mod").read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["require"]:  # a one-line `require module version`
                parts = parts[1:]
            if parts[:1] == [self.module] and len(parts) >= 2:
                return parts[1]
        raise BuildError(f"devcluster/{self.folder}/go.mod does not require {self.module}")

    def cache_dir(self) -> Path:
        """Keyed by the version and every file of the wrapper module (go.mod, go.sum, its own
        Go sources, patches): a bump or any change of what is built builds afresh."""
        return cache_root() / f"{self.name}-{self.version()}-{module_digest(self.wrapper)}" / "bin"

    def ensure(self, directory: Path) -> Path:
        """``directory``, building the binaries into it first if they are not there.

        Several test sessions may share the cache: the first builds under an exclusive
        lock, the others wait and reuse its result (two builds side by side replaced
        each other's folder, and the second's move found nothing)."""
        if self._complete(directory):
            return directory
        directory.parent.mkdir(parents=True, exist_ok=True)
        with (directory.parent / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._complete(directory):
                self._build(directory)
        return directory

    def _complete(self, directory: Path) -> bool:
        return (directory / ".complete").exists() and all(
            (directory / b).exists() for b in self.binaries
        )

    def _build(self, directory: Path) -> None:
        print(
            f"[devcluster] building {', '.join(self.binaries)} ({self.version()}) into "
            f"{directory}; {self.note}, later runs reuse it",
            flush=True,
        )
        started = time.monotonic()
        script = HERE / self.script
        result = subprocess.run(
            ["bash", str(script), *self.script_args, str(directory)], check=False
        )
        if result.returncode != 0:
            raise BuildError(f"{script} failed with exit code {result.returncode}")
        print(f"[devcluster] built in {time.monotonic() - started:.0f}s", flush=True)


CONTROL_PLANE = GoBuild(
    name="k8s",
    folder="go",
    module="k8s.io/kubernetes",
    script="build-binaries.sh",
    binaries=BINARIES,
    note="the first build takes about 10-25 minutes on 2 cores",
)


def _tool(name: str, module: str) -> GoBuild:
    """One binary built from ``devcluster/<name>`` by ``devcluster/build-<name>.sh``."""
    return GoBuild(
        name=name,
        folder=name,
        module=module,
        script=f"build-{name}.sh",
        binaries=(name,),
        note="the first build takes a few minutes on 2 cores",
    )


#: The one wrapper module of kind's tools: its requirements pin, as minimums, the versions the
#: Kubernetes wrapper (``go/``) builds, so client-go, apimachinery, grpc, protobuf, golang.org/x
#: ... compile to the same packages and come from the Go build cache the Kubernetes binaries
#: filled (docs/kind.md, "Building kind's tools").
KIND_TOOLS = "kindtools"


def _kind_tool(module: str, package: str) -> GoBuild:
    """``package`` (a ``tool`` of devcluster/kindtools, or its own main) by build-go-tool.sh."""
    name = package.rstrip("/").rsplit("/", 1)[-1]
    return GoBuild(
        name=name,
        folder=KIND_TOOLS,
        module=module,
        script="build-go-tool.sh",
        binaries=(name,),
        note="the first build takes under a minute after the Kubernetes binaries (3 min alone)",
        script_args=(KIND_TOOLS, package),
    )


HELM = _tool("helm", "helm.sh/helm/v3")
#: The metrics.k8s.io API (``chronos.devcluster.metrics``) on the kind cluster.
METRICS_SERVER = _tool("metrics-server", "sigs.k8s.io/metrics-server")
#: robfig/cron itself, asked next-run questions by the differential schedule test
#: (tests/cluster/test_cron_sequences.py): the version Kubernetes vendors, pinned in go.sum.
CRON_ORACLE = _tool("cron-oracle", "github.com/robfig/cron/v3")
#: kind itself and the two images of a kind node that are not Kubernetes' (docs/kind.md).
KIND = _kind_tool("sigs.k8s.io/kind", "sigs.k8s.io/kind")
#: CoreDNS with a kubeadm Corefile's plugins only (kindtools/cmd/coredns).
COREDNS = _kind_tool("github.com/coredns/coredns", "./cmd/coredns")
LOCAL_PATH_PROVISIONER = _kind_tool(
    "github.com/rancher/local-path-provisioner", "github.com/rancher/local-path-provisioner"
)


def module_digest(folder: Path) -> str:
    """Of every file under ``folder`` (relative path and content, in path order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(relative), relative, len(content)) + content)
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    return Path(os.environ.get("CHRONOS_CACHE_DIR", Path.home() / ".cache" / "chronos"))


def kubernetes_version() -> str:
    return CONTROL_PLANE.version()


def bin_dir() -> Path:
    override = os.environ.get("CHRONOS_KUBE_BIN_DIR")
    return Path(override) if override else CONTROL_PLANE.cache_dir()


def ensure_binaries() -> Path:
    """The folder with the control plane binaries, built first if the cache lacks them."""
    directory = bin_dir()
    if os.environ.get("CHRONOS_KUBE_BIN_DIR") and not (directory / "kube-apiserver").exists():
        raise BuildError(f"CHRONOS_KUBE_BIN_DIR={directory} lacks one of {BINARIES}")
    return CONTROL_PLANE.ensure(directory)


def ensure_helm() -> Path:
    """The path of the helm binary, built first if the cache lacks it."""
    return HELM.ensure(HELM.cache_dir()) / "helm"


def ensure_metrics_server() -> Path:
    """The path of the metrics-server binary, built first if the cache lacks it."""
    return METRICS_SERVER.ensure(METRICS_SERVER.cache_dir()) / "metrics-server"


def ensure_tool(build: GoBuild) -> Path:
    """The path of ``build``'s one binary, built first if the cache lacks it."""
    return build.ensure(build.cache_dir()) / build.binaries[0]


def ensure_cron_oracle() -> Path:
    """The path of the cron-oracle binary, built first if the cache lacks it."""
    return CRON_ORACLE.ensure(CRON_ORACLE.cache_dir()) / "cron-oracle"
