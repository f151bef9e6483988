"""``python -m chronos.devcluster {build,up,down,status}``: the local system for development.

``up`` starts the control plane with a real node (containerd, kubelet, kube-proxy), builds
the runner and operator images and imports them into containerd, installs the ChronosJob
CRD and then the Helm chart (the operator and the REST facade as Deployments, admission
policies included), starts the fake CoreHub on the node address and a relay that serves
the REST facade on 127.0.0.1:8088 (``--api-port`` or ``CHRONOS_DEVCLUSTER_API_PORT``),
and applies the sample job. Run again, it restarts whichever of those died, and only
those. ``status`` tells, for each, whether it runs and answers. ``down`` stops everything
and restores the host (nothing of the node is left), keeping the state (the ChronosJobs
and everything else in etcd) for the next ``up``; ``down --purge`` deletes it. State lives
in ``CHRONOS_DEVCLUSTER_DIR`` (default ``.devcluster`` in the current folder). Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from chronos.contract import RUN_NOW_ANNOTATION
from chronos.devcluster import binaries, images, system
from chronos.devcluster.cluster import Cluster, ClusterError
from chronos.devcluster.files import write_private
from chronos.devcluster.node import NodeError, RealNode, node_address
from chronos.devcluster.processes import Component
from chronos.models.chronosjob import GROUP

SAMPLE = "deploy/samples/chronosjob-sample.yaml"
#: The CRDs generated from the models (``make crd``).
CRDS = (
    "deploy/crd/chronosjobs.yaml",
    "deploy/crd/chronoscalendars.yaml",
    "deploy/crd/chronoschannels.yaml",
)
#: The admission policies deploy/base ships (the chart renders the same; see
#: docs/architecture.md, "Admission policies").
ADMISSION = (
    "deploy/base/admission-secrets.yaml",
    "deploy/base/admission-calendars.yaml",
    "deploy/base/admission-channels.yaml",
    "deploy/base/admission-jobs.yaml",
    "deploy/base/admission-container.yaml",
    "deploy/base/admission-operator.yaml",
    "deploy/base/admission-activity.yaml",
)
#: Their parameter: the operator's settings ConfigMap (in the namespace it names).
OPERATOR_SETTINGS = "deploy/base/operator-settings.yaml"
PURGE_HINT = "`make clean-state` (python -m chronos.devcluster down --purge)"
# What `up` leaves in the state folder: `down --purge` deletes nothing else.
STATE_ENTRIES = frozenset(
    {
        "etcd",
        "pki",
        "logs",
        "node",
        "helm",
        "nodeagent",  # made by the `up` of earlier versions
        "token",
        "state.json",
        "services.json",
        "admin.kubeconfig",
        "kcm.kubeconfig",
        "kubelet.kubeconfig",
        "kube-proxy.kubeconfig",
        "kube-scheduler.kubeconfig",
        "metrics-server.kubeconfig",
    }
)


def state_dir() -> Path:
    return Path(os.environ.get("CHRONOS_DEVCLUSTER_DIR", ".devcluster")).resolve()


def install_crd(
    cluster: system.Target,
    *,
    operator_settings: Mapping[str, str] | None = None,
    policies: bool = True,
) -> None:
    """The CRD and, wherever it is installed, the admission policies that go with it
    (``policies=False`` when the Helm chart installs them)."""
    root = binaries.repo_root()
    files = [a for path in CRDS for a in ("-f", str(root / path))]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *files)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        # deploy/crd/<plural>.yaml defines crd/<plural>.<group>
        *(f"crd/{Path(path).stem}.{GROUP}" for path in CRDS),
    )
    if policies:
        install_admission_policies(cluster, operator_settings)


def admission_policies(operator_settings: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """deploy/base's admission policies and their parameter, the operator's settings
    ConfigMap, with ``operator_settings`` (CHRONOS_COREHUB_*) filled in as the chart's
    values would; a namespace of that name comes first."""
    root = binaries.repo_root()
    (settings,) = [o for o in yaml.safe_load_all((root / OPERATOR_SETTINGS).read_text()) if o]
    unknown = sorted(set(operator_settings or {}) - set(settings["data"]))
    if unknown:
        raise ValueError(f"not in {OPERATOR_SETTINGS}: {unknown}")
    settings["data"].update(operator_settings or {})
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": settings["metadata"]["namespace"]},
    }
    objs: list[dict[str, Any]] = [namespace, settings]
    for path in ADMISSION:
        objs.extend(o for o in yaml.safe_load_all((root / path).read_text()) if o)
    return objs


def install_admission_policies(
    cluster: system.Target, operator_settings: Mapping[str, str] | None = None
) -> None:
    objs = admission_policies(operator_settings)
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)


EXAMPLE_JOB = {
    "name": "Monday-Wednesday-Friday Job",
    "task_type": "entity_start",
    "schedule": {"days_of_week": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30},
    "pipeline_id": "pipeline-123",
    "entity_id": "entity-456",
}


def _last_written(directory: Path) -> str | None:
    """When the etcd data of an earlier run was last written, or None if there is none."""
    db = directory / "etcd" / "member" / "snap" / "db"
    if not db.exists():
        return None
    return datetime.fromtimestamp(db.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cluster() -> Cluster:
    return Cluster(state_dir(), node_address=node_address())


def _images(node: RealNode) -> str:
    """Build the runner and operator images (warm: seconds) and import them into the
    node's containerd; stop the Docker engine again if it was started for this. Returns
    the operator image's ID (the Deployments' pods carry it: system.IMAGE_ID_ANNOTATION)."""
    images.ensure_tools()
    engine = images.start_engine()
    try:
        images.build_all(engine)
        for component in images.COMPONENTS:
            node.import_image(engine, images.image_tag(component))
        tag = images.image_tag("operator")
        return engine.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    finally:
        engine.stop()  # only if started here


def up(api_port_flag: int | None = None) -> None:
    cluster = _cluster()
    if cluster.components():
        _repair(cluster)
        return
    api_port = system.api_port(api_port_flag)
    # Before anything starts: a busy port should cost seconds, not a whole start-up.
    system.check_api_port(api_port)
    system.stop_system(cluster)  # services left over from an `up` that failed half-way
    reused = _last_written(cluster.directory)
    seconds = cluster.start()
    node = RealNode(cluster)
    try:
        install_crd(cluster, policies=False)  # the chart brings the policies
        if reused:
            jobs = cluster.kubectl("get", "chronosjobs", "-A", "-o", "name").split()
            print(
                f"Reusing the state of an earlier `make up` (last written {reused}): "
                f"{len(jobs)} ChronosJob(s) and everything else kept in {cluster.directory}.\n"
                f"{PURGE_HINT} starts from scratch."
            )
        ready = node.start()
        image_id = _images(node)
        token = system.setup_access(cluster)
        info = system.start_system(cluster, api_port, image_id=image_id)
    except BaseException:
        # Nothing of a half-started node may stay on the host.
        system.stop_system(cluster)
        node.stop()
        cluster.stop()
        raise
    cluster.kubectl("apply", "-f", str(binaries.repo_root() / SAMPLE))
    # One run right away, so there is a result to look at.
    cluster.kubectl(
        "annotate", "--overwrite", "chronosjob/morning-sync", f"{RUN_NOW_ANNOTATION}=make-up"
    )
    headline = (
        f"Chronos is up (control plane ready in {seconds:.1f}s, node Ready in {ready:.1f}s, "
        f"Kubernetes {binaries.kubernetes_version()})."
    )
    _summary(cluster, info, token, headline)


def _repair(cluster: Cluster) -> None:
    """The system was started before: start again what died, and nothing else."""
    try:
        restarted = cluster.restart_dead()
        node = RealNode(cluster)
        if not node.pids():
            raise ClusterError("the real node was not started (or was stopped)")
        restarted += node.restart_dead()
    except (ClusterError, NodeError) as exc:
        raise ClusterError(
            f"{exc}\n`make down` then `make up` starts it afresh on new ports (the state is kept)."
        ) from exc
    install_crd(cluster, policies=False)  # cheap, and picks up a changed CRD
    token = system.setup_access(cluster)
    if system.services(cluster):
        info, more = system.restart_dead(cluster)
        restarted += more
    else:  # the first `up` stopped before starting them
        api_port = system.api_port()
        system.check_api_port(api_port)
        info = system.start_system(cluster, api_port)
        restarted += ["fakehub", *system.DEPLOYMENTS, "api-port"]
    if restarted:
        headline = f"Restarted {', '.join(restarted)}; everything else was running."
    else:
        headline = "Already running; every component answers."
    _summary(cluster, info, token, headline)


def _summary(cluster: Cluster, info: system.SystemInfo, token: str, headline: str) -> None:
    summary(cluster, cluster.bin_dir, info, token, headline)


def summary(
    cluster: system.Target,
    bin_dir: Path,
    info: system.SystemInfo,
    token: str,
    headline: str,
    *,
    stop: str = "make down (keeps the state)   Start from scratch: make clean-state",
    status: str = "python -m chronos.devcluster status",
    where: str = "on the node address",
) -> None:
    """What `make up` prints (the kind cluster's ``up`` too, with its own ``stop``)."""
    token_file = write_private(cluster.directory / "token", token)
    body = json.dumps(EXAMPLE_JOB)
    print(
        f"""
{headline}

  export KUBECONFIG={cluster.kubeconfig}
  export PATH={bin_dir}:$PATH
  kubectl get chronosjobs,cronjobs,jobs        # the sample job, its CronJob and a first run
  kubectl get pods -A                          # operator, REST facade and runner pods

Dashboard:  {info.api_url}/ui/   (sign in with the token below)
REST API:   {info.api_url}   (Swagger UI: {info.api_url}/docs; port: {system.API_PORT_VARIABLE})
Fake CoreHub: {info.corehub_url}   (admin/admin; {where}, for the pods)
Operator and REST facade: Helm release "{system.RELEASE}" in namespace {system.RELEASE_NAMESPACE}
Token (24 h, ServiceAccount default/chronos-demo, saved in {token_file}):
{token}

  TOKEN=$(cat {token_file})
  curl -s -X POST {info.api_url}/api/jobs -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{body}'

Logs: {cluster.logs}   Health of each part: {status}
Stop everything: {stop}
"""
    )


def status() -> int:
    """Print each component's process and health; 0 if all run and answer, else 1."""
    cluster = Cluster(state_dir(), bin_dir=binaries.bin_dir())
    node = RealNode.recorded(cluster.directory, cluster.bin_dir)
    processes: list[Component] = [
        *cluster.components(),
        *system.node_components(node),
        *system.services(cluster),
    ]
    if not processes:
        print(f"stopped: nothing is recorded in {cluster.directory}")
        if _last_written(cluster.directory):
            print(f"its state is kept: `make up` reuses it, {PURGE_HINT} deletes it")
        return 1
    print(f"{'component':<24} {'pid':>8}  {'process':<8} {'answers':<8} health check")
    rows = 0
    healthy = 0
    for component in processes:
        running = component.alive()
        answering = running and system.answers(cluster, component)
        healthy += answering
        rows += 1
        print(
            f"{component.name:<24} {component.pid:>8}  {'running' if running else 'dead':<8} "
            f"{'yes' if answering else 'no':<8} {component.health or '(not recorded)'}"
        )
    api_up = cluster.running()
    for component in system.deployments():
        ref = component.health.removeprefix(system.DEPLOYMENT_PREFIX)
        ready, wanted = system.deployment_replicas(cluster, ref) if api_up else (0, 0)
        answering = wanted > 0 and ready == wanted
        healthy += answering
        rows += 1
        print(
            f"{component.name:<24} {'-':>8}  {f'{ready}/{wanted}':<8} "
            f"{'yes' if answering else 'no':<8} Deployment {ref}: {ready} of {wanted} ready"
        )
    if healthy == rows:
        print(f"running: all {rows} components answer")
        return 0
    print(
        f"degraded: {rows - healthy} of {rows} components do not answer; "
        "`make up` restarts the dead ones"
    )
    return 1


def down(purge: bool) -> None:
    cluster = Cluster(state_dir(), bin_dir=binaries.bin_dir())
    system.stop_system(cluster)
    # The node first (it deletes its pods through the API server), then the plane.
    RealNode.recorded(cluster.directory, cluster.bin_dir).stop()
    cluster.stop()
    if not purge:
        kept = " (state kept for the next `make up`)" if _last_written(cluster.directory) else ""
        print(f"stopped{kept}")
        return
    directory = cluster.directory
    if directory.exists():
        # CHRONOS_DEVCLUSTER_DIR can point anywhere: delete only a folder that `up` made.
        foreign = sorted(p.name for p in directory.iterdir() if p.name not in STATE_ENTRIES)
        if foreign:
            raise ClusterError(
                f"not purging {directory}: it holds files devcluster did not create: "
                f"{', '.join(foreign)}"
            )
        shutil.rmtree(directory)
    print(f"stopped; state deleted ({directory}): the next `make up` starts from scratch")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chronos.devcluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    parser.add_argument(
        "--api-port",
        type=int,
        help=f"up: the REST facade's port (default: ${system.API_PORT_VARIABLE}, "
        f"else {system.DEFAULT_API_PORT})",
    )
    parser.add_argument(
        "--purge",
        action="store_true",
        help="down: also delete the state (etcd data, certificates, logs)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(binaries.ensure_binaries())
        elif args.command == "up":
            up(args.api_port)
        elif args.command == "down":
            down(args.purge)
        else:
            sys.exit(status())
    except (ClusterError, NodeError, images.ImageError, binaries.BuildError) as exc:
        sys.exit(f"devcluster: {exc}")


if __name__ == "__main__":
    main()
