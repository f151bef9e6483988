"""The real node's latencies on a kind cluster: node Ready, pod create→Succeeded,
run-now→lastRun, scheduled slot→lastRun, teardown, memory.

The node is a kind cluster from the node image built here (``kindcluster``; its
kubelet, containerd and control plane run inside the node container). The runner image
is built if needed (warm: seconds); then:

* node Ready: ``kind create cluster`` until the node is Ready (kind waits for it), over
  ``--restarts`` bare clusters created and deleted, plus the measuring cluster's own
  creation (``kindcluster.scratch``: CRDs, admission policies and metrics-server are
  installed after that and not counted);
* teardown: ``kind delete cluster`` of each of those bare clusters and of the measuring
  cluster, each checked to leave nothing on the host (no container, no cluster, no
  process in the node's cgroups);
* runner image load: ``kind load docker-image`` of the runner image into the node's
  containerd;
* pod create → Succeeded: a bare runner pod (``pipeline_stop``) against the fake CoreHub
  on this host's address on the kind network, every fake delay 0, so it is the node's
  own overhead plus the runner's start-up;
* run-now → lastRun: the ``run-now`` annotation on a ChronosJob → ``status.lastRun`` of
  that run written by the runner, the operator running as a local process;
* scheduled slot → lastRun (``--scheduled N``): the schedule becomes ``* * * * *`` and
  each slot's ``status.lastScheduleTime`` is compared with the wall clock when its
  ``lastRun`` is seen (polled every 0.25 s; N slots take N minutes);
* memory: the resident set (VmRSS, from the host's ``/proc``) of the node container's
  processes (``nodeprocs``: found by their cgroup, named by ``argv[0]``), after the runs:
  the node's own (kubelet, containerd, kube-proxy, the control plane, CoreDNS,
  metrics-server) one by one, and the sum of all of them (systemd, shims and pause
  containers included; shared pages counted once per process). Not ``docker stats``:
  its figure is the cgroup's usage less inactive file cache, not comparable with the
  per-process figures measured on the home-made node.

Medians of ``--runs`` runs each. Needs root and the real-node lock (like the tests).

    flock /tmp/realnode.lock .venv/bin/python bench/realnode_latency.py \
        [--runs 5] [--restarts 3] [--scheduled 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import Pod
from nodeprocs import SYSTEM, NodeContainer, node_container, node_processes, rss_mib

from chronos import contract as c
from chronos import kube
from chronos.devcluster import kindcluster
from chronos.devcluster.images import Engine, build_all, ensure_tools, image_tag, start_engine
from chronos.devcluster.operator_process import OperatorProcess
from chronos.devcluster.system import KindTarget
from chronos.fakehub import DEFAULT_SEED, FakeCoreHub, FakeHubState

SEED = {**DEFAULT_SEED, "delays": {"activate": 0, "stop": 0, "snapshot": 0}}
TASK = {"type": "pipeline_stop", "pipelineId": "p1"}


def kubectl_json(cluster: KindTarget, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json"))


def wait(check: Any, timeout: float = 120, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {check}")


def pod_manifest(name: str, ns: str, image: str, hub: str) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532},
            "containers": [
                {
                    "name": "runner",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-m", "chronos.runner"],
                    "env": [
                        {"name": c.ENV_COREHUB_URL, "value": hub},
                        {"name": c.ENV_COREHUB_USERNAME, "value": "admin"},
                        {"name": c.ENV_COREHUB_PASSWORD, "value": "admin"},
                        {"name": c.ENV_TASK, "value": json.dumps(TASK)},
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    return json.dumps(pod)


def runner_rbac(cluster: KindTarget, ns: str) -> None:
    root = Path(__file__).resolve().parents[1]
    cluster.kubectl("apply", "-f", str(root / "deploy" / "rbac" / "runner.yaml"))
    cluster.kubectl("create", "serviceaccount", "chronos-runner", "-n", ns)
    cluster.kubectl(
        "create", "rolebinding", "chronos-runner", "-n", ns,
        "--clusterrole=chronos-runner", f"--serviceaccount={ns}:chronos-runner",
    )  # fmt: skip
    cluster.kubectl(
        "create", "secret", "generic", "hub", "-n", ns,
        "--from-literal=username=admin", "--from-literal=password=admin",
    )  # fmt: skip


def scheduled_runs(cluster: KindTarget, ns: str, count: int, previous: str | None) -> list[float]:
    """Slot time (status.lastScheduleTime) → the runner's lastRun of it seen, per slot."""
    if not count:
        return []
    get = ["get", "chronosjob", "-n", ns, "bench"]
    patch = json.dumps({"spec": {"schedule": {"cron": "* * * * *"}}})
    cluster.kubectl("patch", "chronosjob", "-n", ns, "bench", "--type=merge", "-p", patch)
    latencies = []
    for _ in range(count):

        def reported(before: str | None = previous) -> Any:
            status = kubectl_json(cluster, *get).get("status", {})
            last = status.get("lastRun") or {}
            fresh = last.get("runId") not in (None, before) and last.get("trigger") == "schedule"
            return status if fresh else None

        status = wait(reported, timeout=150, poll=0.25)
        seen = time.time()
        assert status["lastRun"]["result"] == "succeeded", status["lastRun"]
        slot = datetime.fromisoformat(status["lastScheduleTime"]).timestamp()
        latencies.append(seen - slot)
        previous = status["lastRun"]["runId"]
    return latencies


def median(values: list[float]) -> str:
    spread = f"min {min(values):.2f}, max {max(values):.2f}"
    return f"{statistics.median(values):.2f} s (n={len(values)}, {spread})"


def leftovers(engine: Engine, name: str, container: NodeContainer) -> list[str]:
    """What a deleted kind cluster left on the host: its container, its name in kind's
    list, processes in its cgroups."""
    left = []
    if engine.docker("ps", "-aq", "--filter", f"id={container.id}").stdout.strip():
        left.append(f"container {container.id[:12]}")
    if name in kindcluster.clusters(engine):
        left.append(f"kind cluster {name}")
    processes = node_processes(container)
    if processes:
        left.append(f"{len(processes)} processes: {sorted(set(processes.values()))[:5]}")
    return left


def restarts(
    engine: Engine, tag: str, count: int, directory: Path
) -> tuple[list[float], list[float]]:
    """``count`` bare kind clusters created and deleted: their create-to-Ready and their
    deletion seconds."""
    ready: list[float] = []
    teardown: list[float] = []
    for i in range(count):
        name = f"chronos-b{uuid.uuid4().hex[:6]}"
        kubeconfig = directory / f"restart-{i}" / "kubeconfig"
        kindcluster.ensure_network(engine)  # guarded before the node starts
        try:
            ready.append(
                kindcluster.create(engine, name, tag, kindcluster.base_config(), kubeconfig)
            )
            container = node_container(engine, kindcluster.node_name(name))
        finally:
            started = time.monotonic()
            kindcluster.delete(engine, name, kubeconfig)
        teardown.append(time.monotonic() - started)
        left = leftovers(engine, name, container)
        assert not left, left
    return ready, teardown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--restarts", type=int, default=3, help="bare kind clusters created and deleted first"
    )
    parser.add_argument(
        "--scheduled", type=int, default=0, help="also time this many `* * * * *` slots"
    )
    args = parser.parse_args()

    ensure_tools()
    engine = start_engine()
    try:
        build_all(engine, components=("runner",))
        image = image_tag("runner")
        node_image = kindcluster.ensure_node_image(engine)
        with tempfile.TemporaryDirectory(prefix="bench-realnode-") as tmp:
            ready, teardown = restarts(engine, node_image, args.restarts, Path(tmp))
            deleting = 0.0
            with kindcluster.scratch(engine, Path(tmp) / "scratch") as made:
                ready.append(made.seconds)
                container = node_container(engine, made.node)
                started = time.monotonic()
                kindcluster.load(engine, made.name, image)
                loaded = time.monotonic() - started
                figures = measure(made, container, image, args)
                deleting = time.monotonic()  # the rest is scratch's `kind delete cluster`
            teardown.append(time.monotonic() - deleting)
            left = leftovers(engine, made.name, container)
            assert not left, left
    finally:
        engine.stop()  # only if started here
    print(f"kind create cluster -> node Ready:    {median(ready)}")
    print(f"kind delete cluster (nothing left):   {median(teardown)}")
    print(f"runner image kind load:               {loaded:.2f} s")
    for line in figures:
        print(line)


def measure(
    made: kindcluster.Scratch, container: NodeContainer, image: str, args: Any
) -> list[str]:
    """The pod, run-now and slot latencies and the memory, as report lines."""
    cluster = made.target
    k8s = kube.client(cluster.kubeconfig)
    hub = FakeCoreHub(FakeHubState(SEED), host=made.address).start()
    operator = OperatorProcess(
        cluster.kubeconfig,
        Path(cluster.directory),
        CHRONOS_RUNNER_IMAGE=image,
        CHRONOS_RUNNER_IMAGE_PULL_POLICY="Never",
        CHRONOS_LEASE_NAMESPACE="default",
    ).start()
    try:
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("create", "namespace", ns)
        pods: list[float] = []
        for i in range(args.runs + 1):  # the first warms the page cache; not counted
            name = f"runner-{i}"
            started = time.monotonic()
            cluster.kubectl("create", "-f", "-", input=pod_manifest(name, ns, image, hub.url))
            phase = wait_pod_ended(k8s, ns, name)
            assert phase == "Succeeded", cluster.kubectl("logs", "-n", ns, name, check=False)
            if i:
                pods.append(time.monotonic() - started)
        runner_rbac(cluster, ns)
        job = {
            "apiVersion": "chronos.gluesync.io/v1alpha1",
            "kind": "ChronosJob",
            "metadata": {"name": "bench", "namespace": ns},
            "spec": {
                "task": TASK,
                "schedule": {"cron": "0 3 1 1 *"},
                # Each run-now follows the last one's lastRun at once, while its pod may
                # still be exiting: Forbid (the default) would refuse it.
                "concurrencyPolicy": "Allow",
                "coreHub": {"url": hub.url, "credentialsSecretRef": {"name": "hub"}},
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
        get = ["get", "chronosjob", "-n", ns, "bench"]
        wait(lambda: kubectl_json(cluster, *get).get("status", {}).get("cronJobName"))
        run_now: list[float] = []
        previous = None
        for i in range(args.runs + 1):
            token = f"bench-{i}"
            started = time.monotonic()
            cluster.kubectl("annotate", "--overwrite", "chronosjob", "-n", ns, "bench",
                            f"{c.RUN_NOW_ANNOTATION}={token}")  # fmt: skip

            def reported(before: str | None = previous) -> Any:
                last = kubectl_json(cluster, *get).get("status", {}).get("lastRun") or {}
                return last if last.get("runId") not in (None, before) else None

            last = wait(reported)
            assert last["result"] == "succeeded", last
            previous = last["runId"]
            if i:
                run_now.append(time.monotonic() - started)
        scheduled = scheduled_runs(cluster, ns, args.scheduled, previous)
        processes = node_processes(container)
    finally:
        operator.stop()
        hub.stop()
    rss = {pid: rss_mib(pid) for pid in processes}
    own = {name: sum(v for pid, v in rss.items() if processes[pid] == name) for name in SYSTEM}
    lines = [
        f"pod create -> Succeeded:              {median(pods)}",
        f"run-now annotation -> lastRun:        {median(run_now)}",
    ]
    if scheduled:
        lines.append(f"scheduled slot -> lastRun:            {median(scheduled)}")
    lines.append("memory (RSS): " + ", ".join(f"{k} {v:.0f} MiB" for k, v in own.items() if v))
    lines.append(
        f"memory (RSS) of all {len(rss)} processes of the node container: "
        f"{sum(rss.values()):.0f} MiB"
    )
    return lines


def wait_pod_ended(k8s: Client, ns: str, name: str, timeout: float = 120) -> str:
    """The pod's phase once it ended (Succeeded or Failed); polled every 50 ms."""

    def ended() -> str | None:
        status = k8s.get(Pod, name, namespace=ns).status
        phase = status.phase if status else None
        return phase if phase in ("Succeeded", "Failed") else None

    result: str = wait(ended, timeout=timeout)
    return result


if __name__ == "__main__":
    main()
