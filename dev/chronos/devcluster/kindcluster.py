"""The local cluster: kind, from a node image built here, offline (issue 24; docs/kind.md).

``build`` (``make test`` runs it first) builds kind, the node image's own binaries (kubeadm
with the Kubernetes binaries; CoreDNS; local-path-provisioner), the node image
``chronos-kind-node:<Kubernetes version>`` and the project's images: no container registry
is reachable here, so kind's published node image cannot be pulled and
``kind build node-image`` cannot fetch its images. The node image is rebuilt only when its
recipe (the scripts and manifests in ``kindnode/`` and the cached binaries it packs)
changes.

``up`` starts the project's Docker engine, creates the kind cluster ``chronos`` (or reuses
it; the REST facade's NodePort published on 127.0.0.1:<api port>) on a network whose
egress is guarded (``kindnet``), loads the runner, operator and metrics-server images with
``kind load docker-image``, installs the system (``system``) and prints what to do next.
Run again, it restarts what died and leaves the rest alone. ``status`` tells, for each
part, whether it runs and answers. ``down`` stops the fake CoreHub, deletes the cluster
(its ChronosJobs with it) and the state folder, and stops the engine unless something
else runs in it. State lives in ``CHRONOS_DEVCLUSTER_DIR`` (default ``.devcluster``).
Needs root.
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
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chronos.contract import RUN_NOW_ANNOTATION
from chronos.devcluster import binaries, images, kindnet, metrics, system
from chronos.devcluster.binaries import HERE, cache_root
from chronos.devcluster.cluster import ClusterError
from chronos.devcluster.files import private_dir, write_private
from chronos.devcluster.images import Engine, ImageError, Log
from chronos.devcluster.install import SAMPLE, install_crd, summary
from chronos.devcluster.pause import pause_archive
from chronos.devcluster.system import KindTarget

CLUSTER = "chronos"
NODE_FILES = HERE / "kindnode"
BASE_TAG = "chronos-kind-base:bookworm"
RECIPE_LABEL = "io.chronos.kind-recipe"


def _print(line: str) -> None:
    print(f"[kind] {line}", flush=True)


def node_tag() -> str:
    return f"chronos-kind-node:{binaries.kubernetes_version()}"


def state_dir() -> Path:
    return Path(os.environ.get("CHRONOS_DEVCLUSTER_DIR", ".devcluster")).resolve()


def user_kubeconfig(env: Mapping[str, str] | None = None) -> Path:
    """Where kind itself writes (and ``kind delete`` removes) the context ``kind-chronos``,
    as for any kind user: $KUBECONFIG's first file, else ~/.kube/config."""
    variable = (os.environ if env is None else env).get("KUBECONFIG", "")
    first = next((part for part in variable.split(os.pathsep) if part), "")
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


# ------------------------------------------------------------------ engine


def start_engine(log: Log = _print) -> Engine:
    """The project's Docker engine (images.start_engine): it builds the images and runs
    the kind nodes."""
    images.ensure_tools(log)
    return images.start_engine(log)


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
    """kind's module source (its images/base files), downloaded into the Go module cache
    if it is not there yet (``go list -m`` only reports a module already downloaded: a
    cold machine builds the base before kind itself)."""
    version = binaries.KIND.version()
    wrapper = binaries.KIND.wrapper
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{version}"],
        cwd=wrapper,
        env={**os.environ, "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        directory = Path(json.loads(result.stdout).get("Dir") or "")
    except ValueError:
        directory = Path()
    if result.returncode != 0 or not (directory / "images" / "base" / "files").is_dir():
        raise ImageError(f"kind {version}'s module source not found:\n{result.stderr}")
    return directory


# ------------------------------------------------------------------ cluster


def kind(
    engine: Engine, *args: str, kubeconfig: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    binary = binaries.ensure_tool(binaries.KIND)
    env = engine.env(KUBECONFIG=str(kubeconfig or user_kubeconfig()))
    result = subprocess.run(
        [str(binary), *args], env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise ImageError(f"kind {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def clusters(engine: Engine) -> list[str]:
    return kind(engine, "get", "clusters").stdout.split()


def node_name(cluster: str) -> str:
    """The one node of a kind cluster (its container's name, and its Node's)."""
    return f"{cluster}-control-plane"


def ensure_network(engine: Engine) -> str:
    """kind's network, made here before kind would make it: its bridge has a fixed name
    (:data:`kindnet.BRIDGE`) and the egress guard is in place before any node or pod
    starts. kind uses an existing network of that name as it is. Returns the host's
    address on it (the fake CoreHub listens there)."""
    found = engine.docker("network", "inspect", kindnet.NETWORK, check=False)
    if found.returncode != 0:
        engine.docker(
            *("network", "create", "--driver", "bridge"),
            *("--opt", f"com.docker.network.bridge.name={kindnet.BRIDGE}"),
            kindnet.NETWORK,
        )
        found = engine.docker("network", "inspect", kindnet.NETWORK)
    kindnet.guard()
    (network,) = json.loads(found.stdout)
    return kindnet.ipv4_gateway(network)


def remove_network(engine: Engine) -> None:
    """The network and its guard, once no node is left on it."""
    if engine.docker("network", "rm", kindnet.NETWORK, check=False).returncode == 0:
        kindnet.unguard()


def create(engine: Engine, name: str, tag: str, config: str, kubeconfig: Path) -> float:
    """Create the kind cluster ``name`` from the node image ``tag`` (on the network
    :func:`ensure_network` made); returns its seconds."""
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    config_file = kubeconfig.parent / f"{name}.kind.yaml"
    config_file.write_text(config)
    started = time.monotonic()
    try:
        kind(
            engine,
            *("create", "cluster", "--name", name, "--image", tag),
            *("--config", str(config_file), "--wait", "120s"),
            kubeconfig=kubeconfig,
        )
    finally:
        config_file.unlink()
    return time.monotonic() - started


def load(engine: Engine, name: str, *tags: str) -> None:
    """Put locally built images into the cluster's containerd (no registry here)."""
    for tag in tags:
        kind(engine, "load", "docker-image", "--name", name, tag)


def delete(engine: Engine, name: str, kubeconfig: Path) -> None:
    """Delete the cluster; the network too when it was the last one on it."""
    kind(engine, "delete", "cluster", "--name", name, kubeconfig=kubeconfig)
    if not clusters(engine):
        remove_network(engine)


def base_config() -> str:
    return (NODE_FILES / "cluster.yaml").read_text()


@dataclass(frozen=True)
class Scratch:
    """A kind cluster of its own (tests, benchmarks), as :func:`scratch` made it."""

    target: KindTarget
    #: The cluster's name and its one node's (also the node container's).
    name: str
    node: str
    #: The node's InternalIP, on the kind network.
    node_ip: str
    #: This host's address on the kind network: pods reach host processes there.
    address: str
    #: ``kind create cluster`` until the node was Ready (kind waits for it).
    seconds: float


@contextmanager
def scratch(engine: Engine, directory: Path, *tags: str, log: Log = _print) -> Iterator[Scratch]:
    """A new kind cluster (a name of its own, state in ``directory``) with the project's
    CRDs and admission policies, metrics-server, and the images ``tags`` loaded; deleted
    afterwards, whatever happened."""
    name = f"chronos-t{uuid.uuid4().hex[:6]}"
    target = KindTarget(directory, binaries.ensure_binaries())
    node_image = ensure_node_image(engine, log)
    metrics_image = metrics.build_image(engine, cache_root() / "images" / "kind-metrics")
    address = ensure_network(engine)
    try:
        seconds = create(engine, name, node_image, base_config(), target.kubeconfig)
        load(engine, name, *tags, metrics_image)
        install_crd(target)
        metrics.install(target, metrics_image)
        node = node_name(name)
        addresses = json.loads(
            target.kubectl("get", "node", node, "-o", "jsonpath={.status.addresses}")
        )
        (ip,) = [a["address"] for a in addresses if a["type"] == "InternalIP"]
        yield Scratch(target, name, node, ip, address, seconds)
    finally:
        delete(engine, name, target.kubeconfig)


def target() -> KindTarget:
    return KindTarget(state_dir(), binaries.ensure_binaries())


def _create_or_reuse(engine: Engine, tag: str, api_port: int, copy: Path, log: Log) -> str:
    """Create the cluster (the facade's NodePort published on ``api_port``) or reuse it
    when it publishes that port, its kubeconfig copied to ``copy``; returns what was
    done, for the headline."""
    if CLUSTER in clusters(engine):
        mapped = engine.docker("port", node_name(CLUSTER), f"{system.NODE_PORT}/tcp", check=False)
        if system.published_port(mapped.stdout) != api_port:
            raise ImageError(
                f"the kind cluster {CLUSTER!r} publishes the REST API on "
                f"{mapped.stdout.strip() or 'no port'}, not 127.0.0.1:{api_port} "
                "(kind maps ports only at creation): `make down` first"
            )
        log(f"reusing the kind cluster {CLUSTER!r}")
        kind(engine, "export", "kubeconfig", "--name", CLUSTER)
        how = "reused"
    else:
        system.check_api_port(api_port)
        config = system.cluster_config(base_config(), api_port)
        seconds = create(engine, CLUSTER, tag, config, user_kubeconfig())
        log(f"kind cluster {CLUSTER!r} created in {seconds:.1f} s")
        how = f"created in {seconds:.1f}s"
    # kind writes the user's kubeconfig like any kind user's (`kubectl --context
    # kind-chronos`); the summary's KUBECONFIG is a copy of the cluster's own.
    write_private(copy, kind(engine, "get", "kubeconfig", "--name", CLUSTER).stdout)
    return how


def build(log: Log = _print) -> None:
    """Everything ``up`` and the tests build, before they need it: the binaries, the node
    image and the project's images (a cold machine spends its minutes here, not inside a
    test's time limit)."""
    binaries.ensure_binaries()
    binaries.ensure_helm()
    binaries.ensure_metrics_server()
    binaries.ensure_tool(binaries.KIND)
    engine = start_engine(log)
    try:
        ensure_node_image(engine, log)
        images.build_all(engine, log)
    finally:
        engine.stop()  # only if started here


def up(log: Log = _print, timeout: float = 300) -> None:
    started = time.monotonic()
    api_port = system.api_port()
    if _engine_if_running(log) is None:
        # No cluster can hold the port: a busy one should cost seconds, not a start-up.
        system.check_api_port(api_port)
    engine = start_engine(log)
    tag = ensure_node_image(engine, log)
    cluster = target()
    private_dir(cluster.directory)  # the kubeconfig and the token
    address = ensure_network(engine)
    how = _create_or_reuse(engine, tag, api_port, cluster.kubeconfig, log)
    report = images.build_all(engine, log)
    loaded = [built.tag for built in report.images.values()]
    loaded.append(metrics.build_image(engine, cache_root() / "images" / "kind-metrics"))
    load(engine, CLUSTER, *loaded)
    log(f"loaded {', '.join(loaded)}")
    operator = images.image_tag("operator")
    image_id = engine.docker("image", "inspect", "--format", "{{.Id}}", operator).stdout.strip()
    deadline = time.monotonic() + timeout
    install_crd(cluster, policies=False)  # the chart brings the policies
    metrics.install(cluster, loaded[-1])
    token = system.setup_access(cluster)
    info, restarted = system.start_system(cluster, address, api_port, image_id, deadline)
    cluster.kubectl("apply", "-f", str(binaries.repo_root() / SAMPLE))
    # One run right away, so there is a result to look at.
    cluster.kubectl(
        "annotate", "--overwrite", "chronosjob/morning-sync", f"{RUN_NOW_ANNOTATION}=make-up"
    )
    again = f"; restarted {', '.join(restarted)}" if restarted and how == "reused" else ""
    headline = (
        f"Chronos is up on the kind cluster {CLUSTER!r} ({how}{again}; up in "
        f"{time.monotonic() - started:.0f}s; node image {tag}, "
        f"Kubernetes {binaries.kubernetes_version()})."
    )
    summary(cluster, cluster.bin_dir, info, token, headline, context=f"kind-{CLUSTER}")
    print(f"kind: DOCKER_HOST={engine.host} {binaries.ensure_tool(binaries.KIND)} get clusters\n")


def _engine_if_running(log: Log) -> Engine | None:
    directory = images.engine_dir()
    socket = directory / "docker.sock"
    engine = Engine(f"unix://{socket}", images.docker_cli(), log=log, directory=directory)
    return engine if socket.exists() and engine.answers() else None


def down(log: Log = _print) -> None:
    """Delete the cluster and everything ``up`` started or wrote; the engine stops too
    unless something else still runs in it (a test session's cluster)."""
    system.stop_services(target())
    engine = _engine_if_running(log)
    if engine is None:
        log("no Docker engine runs: no kind cluster to delete")
    else:
        if CLUSTER in clusters(engine):
            delete(engine, CLUSTER, user_kubeconfig())
            log(f"kind cluster {CLUSTER!r} deleted")
        else:
            log(f"no kind cluster {CLUSTER!r}")
        if not engine.docker("ps", "--quiet").stdout.strip():
            log(images.stop_engine_in(images.engine_dir()))
    _remove_state()


def status(log: Log = _print) -> int:
    """Each part of the system, running and answering or not; 0 if all answer, else 1."""
    engine = _engine_if_running(log)
    if engine is None or CLUSTER not in clusters(engine):
        print(f"stopped: no kind cluster {CLUSTER!r} runs (`make up` creates it)")
        return 1
    mapped = engine.docker("port", node_name(CLUSTER), f"{system.NODE_PORT}/tcp", check=False)
    api_port = system.published_port(mapped.stdout) or system.api_port()
    rows = system.status_rows(target(), node_name(CLUSTER), api_port)
    print(f"{'component':<12} {'state':<10} {'answers':<8} detail")
    for row in rows:
        print(f"{row.name:<12} {row.state:<10} {'yes' if row.answers else 'no':<8} {row.detail}")
    dead = [row.name for row in rows if not row.answers]
    if not dead:
        print(f"running: all {len(rows)} components answer")
        return 0
    print(f"degraded: {', '.join(dead)} do not answer; `make up` restarts what it started")
    return 1


#: What ``up`` writes in :func:`state_dir`: ``down`` deletes these and nothing else.
STATE_ENTRIES = frozenset({"helm", "kubeconfig", "logs", "token", "services.json"})


def _remove_state() -> None:
    """The kubeconfig, token and logs of the deleted cluster: nothing of it stays (a
    folder holding anything else, CHRONOS_DEVCLUSTER_DIR pointing elsewhere, is kept)."""
    directory = state_dir()
    if directory.is_dir() and {p.name for p in directory.iterdir()} <= STATE_ENTRIES:
        shutil.rmtree(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chronos.devcluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["build", "image", "up", "down", "status"])
    parser.add_argument(
        "--api-port",
        type=int,
        help=f"up: the REST facade's port (default: ${system.API_PORT_VARIABLE}, "
        f"else {system.DEFAULT_API_PORT})",
    )
    args = parser.parse_args(argv)
    if args.api_port is not None:
        os.environ[system.API_PORT_VARIABLE] = str(args.api_port)
    try:
        if args.command == "build":
            build()
        elif args.command == "image":
            engine = start_engine()
            try:
                print(ensure_node_image(engine))
            finally:
                engine.stop()  # only if started here: `up` keeps it (the node runs in it)
        elif args.command == "up":
            up()
        elif args.command == "down":
            down()
        else:
            return status()
    except (ImageError, ClusterError, binaries.BuildError) as exc:
        print(f"devcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
