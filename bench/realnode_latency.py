"""The real node's latencies: node Ready, pod create→Succeeded, run-now→lastRun.

Starts a control plane for a real node (``Cluster(node_address=...)``), builds the
runner image if needed (warm: seconds) and imports it into containerd, then measures:

* node Ready: kubelet start → Node Ready without the not-ready taint, over ``--restarts``
  stop/start cycles of the node (containerd, kubelet, kube-proxy; the plane stays up);
* pod create → Succeeded: a bare runner pod (``pipeline_stop``) against the fake CoreHub
  on the node address, every fake delay 0, so it is the node's own overhead plus the
  runner's start-up;
* run-now → lastRun: the ``run-now`` annotation on a ChronosJob → ``status.lastRun`` of
  that run written by the runner, the operator running as a local process;
* scheduled slot → lastRun (``--scheduled N``): the schedule becomes ``* * * * *`` and
  each slot's ``status.lastScheduleTime`` is compared with the wall clock when its
  ``lastRun`` is seen (polled every 0.25 s; N slots take N minutes);
* teardown: ``RealNode.stop`` until nothing is left on the host;
* memory (RSS) of the node's processes.

Medians of ``--runs`` runs each. Needs root (like the tests).

    .venv/bin/python bench/realnode_latency.py [--runs 5] [--restarts 3] [--scheduled 3]
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

from chronos import contract as c
from chronos.devcluster.install import install_crd
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.images import build_all, ensure_tools, image_tag, start_engine
from chronos.devcluster.node import RealNode, node_address
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import DEFAULT_SEED, FakeCoreHub, FakeHubState

SEED = {**DEFAULT_SEED, "delays": {"activate": 0, "stop": 0, "snapshot": 0}}
TASK = {"type": "pipeline_stop", "pipelineId": "p1"}


def kubectl_json(cluster: Cluster, *args: str) -> Any:
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


def runner_rbac(cluster: Cluster, ns: str) -> None:
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


def scheduled_runs(cluster: Cluster, ns: str, count: int, previous: str | None) -> list[float]:
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


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median(values: list[float]) -> str:
    spread = f"min {min(values):.2f}, max {max(values):.2f}"
    return f"{statistics.median(values):.2f} s (n={len(values)}, {spread})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument(
        "--scheduled", type=int, default=0, help="also time this many `* * * * *` slots"
    )
    args = parser.parse_args()

    ensure_tools()
    engine = start_engine()
    try:
        build_all(engine, components=("runner",))
        image = image_tag("runner")
        with tempfile.TemporaryDirectory(prefix="bench-realnode-") as tmp:
            cluster = Cluster(Path(tmp) / "plane", node_address=node_address())
            plane = cluster.start()
            install_crd(cluster)
            node = RealNode(cluster)
            try:
                measure(cluster, node, engine, image, plane, args)
            finally:
                node.stop()
                cluster.stop()
    finally:
        engine.stop()


def measure(
    cluster: Cluster, node: RealNode, engine: Any, image: str, plane: float, args: Any
) -> None:
    ready: list[float] = []
    teardown: list[float] = []
    for _ in range(args.restarts):
        ready.append(node.start())
        started = time.monotonic()
        node.stop()
        teardown.append(time.monotonic() - started)
        assert node.leftovers() == [], node.leftovers()
    ready.append(node.start())
    imported = node.import_image(engine, image)
    hub = FakeCoreHub(FakeHubState(SEED), host=node.address).start()
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
            phase = node.wait_pod_ended(ns, name, timeout=120, poll=0.05)
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
        memory = {name: rss_mib(pid) for name, pid in _node_pids(node).items()}
    finally:
        operator.stop()
        hub.stop()
    print(f"control plane (with scheduler) ready: {plane:.2f} s")
    print(f"node Ready after kubelet start:       {median(ready)}")
    print(f"teardown (nothing left):              {median(teardown)}")
    print(f"runner image import into containerd:  {imported:.2f} s")
    print(f"pod create -> Succeeded:              {median(pods)}")
    print(f"run-now annotation -> lastRun:        {median(run_now)}")
    if scheduled:
        print(f"scheduled slot -> lastRun:            {median(scheduled)}")
    print("memory (RSS): " + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items()))


def _node_pids(node: RealNode) -> dict[str, int]:
    pids: dict[str, int] = json.loads(node.state_file.read_text())["pids"]
    plane = node.cluster.pids()
    return {**pids, **{k: v for k, v in plane.items() if k == "kube-scheduler"}}


if __name__ == "__main__":
    main()
