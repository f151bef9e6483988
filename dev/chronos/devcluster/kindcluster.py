"""kind as the local cluster, opt-in beside the home-made one (issue 24; docs/kind.md).

``python -m chronos.devcluster.kindcluster image`` builds kind, the node image's own binaries
(kubeadm with the Kubernetes binaries; CoreDNS; local-path-provisioner) and the node image
``chronos-kind-node:<Kubernetes version>``, all offline: no container registry is reachable here,
so kind's published node image cannot be pulled and ``kind build node-image`` cannot fetch its
images. The image is rebuilt only when its recipe (the scripts and manifests in ``kindnode/``
and the cached binaries it packs) changes.

``up`` starts a Docker engine for kind (state under ``CHRONOS_CACHE_DIR/kind-docker``), makes
the node image, creates the kind cluster ``chronos`` (or reuses it; the REST facade's NodePort
published on 127.0.0.1:<api port>), builds the runner, operator and metrics-server images on
that engine and loads them with ``kind load docker-image``, then installs the system as
``make up`` does (``kindsystem``) and prints the same summary. ``down`` stops the fake CoreHub,
deletes the cluster and its ``kind`` network, stops the engine and deletes the state folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from chronos.contract import RUN_NOW_ANNOTATION
from chronos.devcluster import binaries, images, kindsystem, system
from chronos.devcluster.__main__ import SAMPLE, install_crd, summary
from chronos.devcluster.binaries import HERE, cache_root
from chronos.devcluster.cluster import ClusterError
from chronos.devcluster.images import Engine, ImageError, Log
from chronos.devcluster.kindsystem import KindTarget
from chronos.devcluster.node import pause_archive

CLUSTER = "chronos"
NODE_FILES = HERE / "kindnode"
BASE_TAG = "chronos-kind-base:bookworm"
RECIPE_LABEL = "io.chronos.kind-recipe"
#: The wrapper's runtime name in the kind engine (see ``runc-drop-sys-resource``).
RUNTIME = "chronos-runc"
#: Bit of CAP_SYS_RESOURCE in a capability set (linux/capability.h).
CAP_SYS_RESOURCE = 24


def _print(line: str) -> None:
    print(f"[kind] {line}", flush=True)


def node_tag() -> str:
    return f"chronos-kind-node:{binaries.kubernetes_version()}"


def engine_dir() -> Path:
    return cache_root() / "kind-docker"


def state_dir() -> Path:
    return Path(os.environ.get("CHRONOS_DEVCLUSTER_DIR", ".devcluster")).resolve() / "kind"


def kubeconfig() -> Path:
    return state_dir() / "kubeconfig"


# ------------------------------------------------------------------ engine


def lacks_sys_resource(proc_status: str) -> bool:
    """Whether the capability bounding set in ``/proc/<pid>/status`` text lacks
    CAP_SYS_RESOURCE (then ``docker run --privileged``, which kind always uses, fails)."""
    for line in proc_status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapBnd":
            return not (int(value.strip(), 16) >> CAP_SYS_RESOURCE) & 1
    raise ImageError("no CapBnd line in the process status")


def engine_args(proc_status: str) -> tuple[str, ...]:
    """dockerd arguments for kind's engine: on a machine without CAP_SYS_RESOURCE, the
    default runtime is runc minus that capability; elsewhere nothing changes."""
    if not lacks_sys_resource(proc_status):
        return ()
    wrapper = NODE_FILES / "runc-drop-sys-resource"
    return (f"--add-runtime={RUNTIME}={wrapper}", f"--default-runtime={RUNTIME}")


def start_kind_engine(log: Log = _print) -> Engine:
    images.ensure_tools(log)
    status = Path("/proc/self/status").read_text()
    return images.start_engine(log, engine_dir(), extra_args=engine_args(status))


# -------------------------------------------------------------- node image


def recipe(files: Mapping[str, bytes], inputs: Mapping[str, str]) -> str:
    """A digest of how the node image is made: the scripts and manifests (by content) and
    the cached inputs (by their folder or file name, which carries their own digest)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    digest.update(json.dumps(dict(inputs), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _node_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(NODE_FILES.iterdir()) if p.is_file()}


def _label(engine: Engine, tag: str) -> str | None:
    result = engine.docker(
        "image",
        "inspect",
        "--format",
        f'{{{{ index .Config.Labels "{RECIPE_LABEL}" }}}}',
        tag,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _script(engine: Engine, name: str, *args: str, log: Log) -> None:
    logs = cache_root() / "images" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"kind-{name}.log"
    log(f"{name} (log: {log_path})")
    env = engine.env()
    with log_path.open("w") as out:
        result = subprocess.run(
            ["bash", str(NODE_FILES / name), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise ImageError(f"{name} exited {result.returncode}; end of {log_path}:\n{tail}")


def ensure_node_image(engine: Engine, log: Log = _print) -> str:
    """The node image, built when its recipe changed; returns its tag."""
    kube = binaries.ensure_binaries()
    coredns = binaries.ensure_tool(binaries.COREDNS)
    provisioner = binaries.ensure_tool(binaries.LOCAL_PATH_PROVISIONER)
    rootfs = images.ensure_rootfs_tarball(log)
    pause = pause_archive(log)
    inputs = {
        "kind": binaries.KIND.version(),
        "kube": str(kube),
        "coredns": str(coredns),
        "local-path-provisioner": str(provisioner),
        "rootfs": rootfs.name,
        "pause": pause.name,
    }
    wanted = recipe(_node_files(), inputs)
    tag = node_tag()
    if _label(engine, tag) == wanted:
        log(f"{tag} is cached (recipe {wanted})")
        return tag
    started = time.monotonic()
    work = cache_root() / "images" / "kind-work"
    # The base only when its own recipe changed (its script, kind's version, the rootfs).
    base_files = {"build-base.sh": (NODE_FILES / "build-base.sh").read_bytes()}
    base_wanted = recipe(base_files, {"kind": binaries.KIND.version(), "rootfs": rootfs.name})
    if _label(engine, BASE_TAG) == base_wanted:
        log(f"{BASE_TAG} is cached (recipe {base_wanted})")
    else:
        _script(
            engine,
            "build-base.sh",
            str(rootfs),
            str(_kind_module_dir()),
            str(work / "base"),
            BASE_TAG,
            f"{RECIPE_LABEL}={base_wanted}",
            log=log,
        )
    _script(
        engine,
        "build-node.sh",
        BASE_TAG,
        str(kube),
        str(coredns),
        str(provisioner),
        str(pause),
        str(work / "node"),
        tag,
        f"{RECIPE_LABEL}={wanted}",
        log=log,
    )
    log(f"{tag} built in {time.monotonic() - started:.1f} s (recipe {wanted})")
    return tag


def _kind_module_dir() -> Path:
    """kind's module source (its images/base files), from the Go module cache."""
    version = binaries.KIND.version()
    wrapper = binaries.KIND.wrapper
    result = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", f"sigs.k8s.io/kind@{version}"],
        cwd=wrapper,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        check=False,
    )
    directory = Path(result.stdout.strip())
    if result.returncode != 0 or not (directory / "images" / "base" / "files").is_dir():
        raise ImageError(f"kind {version}'s module source not found:\n{result.stderr}")
    return directory


# ------------------------------------------------------------------ cluster


def kind(engine: Engine, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = binaries.ensure_tool(binaries.KIND)
    env = engine.env(KUBECONFIG=str(kubeconfig()))
    result = subprocess.run(
        [str(binary), *args], env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise ImageError(f"kind {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def target() -> KindTarget:
    return KindTarget(state_dir(), binaries.ensure_binaries())


def _create_or_reuse(engine: Engine, tag: str, api_port: int, log: Log) -> str:
    """Create the cluster (the facade's NodePort published on ``api_port``) or reuse it
    when it publishes that port; returns what was done, for the headline."""
    if CLUSTER in kind(engine, "get", "clusters").stdout.split():
        mapped = engine.docker(
            "port", f"{CLUSTER}-control-plane", f"{kindsystem.NODE_PORT}/tcp", check=False
        )
        if kindsystem.published_port(mapped.stdout) != api_port:
            raise ImageError(
                f"the kind cluster {CLUSTER!r} publishes the REST API on "
                f"{mapped.stdout.strip() or 'no port'}, not 127.0.0.1:{api_port} "
                "(kind maps ports only at creation): `make down KIND=1` first"
            )
        log(f"reusing the kind cluster {CLUSTER!r}")
        kind(engine, "export", "kubeconfig", "--name", CLUSTER)
        return "reused"
    system.check_api_port(api_port)
    config = state_dir() / "cluster.yaml"
    base = (NODE_FILES / "cluster.yaml").read_text()
    config.write_text(kindsystem.cluster_config(base, api_port))
    create = time.monotonic()
    kind(
        engine,
        *("create", "cluster", "--name", CLUSTER, "--image", tag),
        *("--config", str(config), "--wait", "120s"),
    )
    seconds = time.monotonic() - create
    log(f"kind cluster {CLUSTER!r} created in {seconds:.1f} s")
    return f"created in {seconds:.1f}s"


def up(log: Log = _print, timeout: float = 300) -> None:
    started = time.monotonic()
    api_port = system.api_port()
    engine = start_kind_engine(log)
    tag = ensure_node_image(engine, log)
    state_dir().mkdir(parents=True, exist_ok=True)
    how = _create_or_reuse(engine, tag, api_port, log)
    report = images.build_all(engine, log)
    loaded = [built.tag for built in report.images.values()]
    loaded.append(kindsystem.metrics_image(engine, cache_root() / "images" / "kind-metrics"))
    for image in loaded:
        kind(engine, "load", "docker-image", "--name", CLUSTER, image)
        log(f"loaded {image}")
    operator = images.image_tag("operator")
    image_id = engine.docker("image", "inspect", "--format", "{{.Id}}", operator).stdout.strip()
    cluster = target()
    deadline = time.monotonic() + timeout
    install_crd(cluster, policies=False)  # the chart brings the policies
    kindsystem.install_metrics_server(cluster, loaded[-1])
    token = system.setup_access(cluster)
    address = kindsystem.network_gateway(engine)
    info = kindsystem.start_system(cluster, address, api_port, image_id, deadline)
    cluster.kubectl("apply", "-f", str(binaries.repo_root() / SAMPLE))
    # One run right away, so there is a result to look at.
    cluster.kubectl(
        "annotate", "--overwrite", "chronosjob/morning-sync", f"{RUN_NOW_ANNOTATION}=make-up"
    )
    headline = (
        f"Chronos is up on the kind cluster {CLUSTER!r} ({how}; up in "
        f"{time.monotonic() - started:.0f}s; node image {tag}, "
        f"Kubernetes {binaries.kubernetes_version()})."
    )
    summary(
        cluster,
        cluster.bin_dir,
        info,
        token,
        headline,
        stop=f"make down KIND=1 (deletes the kind cluster {CLUSTER!r} and all in it)",
        status=f"kubectl --context kind-{CLUSTER} get pods -A",
        where=f"on this host's address on the {kindsystem.NETWORK!r} Docker network",
    )
    print(f"kind: DOCKER_HOST={engine.host} {binaries.ensure_tool(binaries.KIND)} get clusters\n")


def down(log: Log = _print) -> None:
    kindsystem.stop_services(target())
    socket = engine_dir() / "docker.sock"
    if not socket.exists():
        log("no kind engine runs")
        return
    engine = Engine(f"unix://{socket}", images.docker_cli(), log=log, directory=engine_dir())
    if not engine.answers():
        log("the kind engine does not answer; nothing to delete")
        return
    kind(engine, "delete", "cluster", "--name", CLUSTER)
    engine.docker("network", "rm", kindsystem.NETWORK, check=False)  # kind keeps it
    log(f"kind cluster {CLUSTER!r} deleted")
    log(images.stop_engine_in(engine_dir()))
    _remove_state()


#: What ``up`` writes in :func:`state_dir`: ``down`` deletes these and nothing else.
STATE_ENTRIES = frozenset({"cluster.yaml", "helm", "kubeconfig", "logs", "token", "services.json"})


def _remove_state() -> None:
    """The kubeconfig, token and logs of the deleted cluster: nothing of it stays (a
    folder holding anything else, CHRONOS_DEVCLUSTER_DIR pointing elsewhere, is kept)."""
    directory = state_dir()
    if directory.is_dir() and {p.name for p in directory.iterdir()} <= STATE_ENTRIES:
        shutil.rmtree(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster.kindcluster")
    parser.add_argument("command", choices=["image", "up", "down"])
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            engine = start_kind_engine()
            try:
                print(ensure_node_image(engine))
            finally:
                engine.stop()  # only if started here: `up` keeps it (the node runs in it)
        elif args.command == "up":
            up()
        else:
            down()
    except (ImageError, ClusterError, binaries.BuildError) as exc:
        print(f"kindcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
