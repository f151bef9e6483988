"""A real runner pod's peak CPU and memory, sampled by the operator from the REAL
metrics-server while the run ran and kept in its run record (``chronos.operator.peaks``):
a CoreHub run's runner pod and a container task's pod alike.

The real node runs metrics-server (``chronos.devcluster.metrics``); the session's
operator samples every CHRONOS_PEAK_SAMPLE_SECONDS (10 s by default). A run kept busy by
the fake CoreHub's delays lasts about a minute and a half: long enough for metrics-server's
first scrapes. Once the runner has recorded the run, the operator amends that record with
the highest figures it saw; the Runs page and the REST history show them.
"""

from __future__ import annotations

import pytest
from builders import create_chronosjob as create
from builders import grant
from fixtures_api import ApiServer, sa_token
from fixtures_ui import signed_in
from lightkube import Client
from lightkube.types import PatchType
from support import get_cr, wait_for

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl
from chronos.kube import ChronosJobResource
from chronos.usage import parse_quantity
from realnode.fixtures import RUNNER_RESOURCES, Node, request_run_now

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


def test_a_real_runner_pods_peak_cpu_and_memory_are_kept_in_its_record(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    node_api_server: ApiServer,
    real_node: Node,
) -> None:
    ns = runner_rbac
    # Each entity takes 30 s to become active: the run lasts about 90 s.
    fakehub.configure(delays={"activate": 30.0, "stop": 0.05, "snapshot": 0.2})
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2", "e3"]}
    request_run_now(k8s, ns, "peaky", fakehub_server.url, task, timeoutSeconds=150)
    run = wait_for(
        lambda: ((get_cr(k8s, ns, "peaky").get("status") or {}).get("activeRuns") or [None])[0],
        60,
        "the run",
    )

    def peaked() -> dict[str, object] | None:
        status = get_cr(k8s, ns, "peaky").get("status") or {}
        for record in status.get("history") or []:
            if record.get("runId") == run and "peakMemoryBytes" in record:
                return dict(record)
        return None

    try:
        record = wait_for(peaked, 200, "the run's peaks in its record")
    except AssertionError:
        status = get_cr(k8s, ns, "peaky").get("status")
        raise AssertionError(
            f"no peaks recorded; status: {status}\n"
            f"operator log:\n{operator.log_path.read_text()[-3000:]}\n"
            f"metrics-server's log:\n{real_node.metrics_server_log()}"
        ) from None
    print(  # for the record
        f"run {run}: {record['result']}, peak CPU {record['peakCpuMillicores']} m, "
        f"peak memory {record['peakMemoryBytes']} B"
    )
    assert record["reportedBy"] == "runner"  # the runner's own record, amended
    assert record["result"] == "succeeded"
    cpu, memory = record["peakCpuMillicores"], record["peakMemoryBytes"]
    assert isinstance(cpu, float | int)
    assert isinstance(memory, int)
    assert 0 < cpu <= parse_quantity(RUNNER_RESOURCES["limits"]["cpu"]) * 1000 * 2
    # The runner's working set: more than a MiB, within its pod's memory limit.
    assert 2**20 < memory <= parse_quantity(RUNNER_RESOURCES["limits"]["memory"])

    # What a reader of the job sees on the Runs page and in its export.
    grant(k8s, ns, "watcher", ("get", "list", "watch"), role="chronos-viewer")
    with signed_in(node_api_server, sa_token(k8s, ns, "watcher")) as client:
        exported = client.get(f"/ui/runs/export.json?namespace={ns}").json()
        item = next(i for i in exported["items"] if i["run_id"] == run)
        assert (item["peak_cpu_millicores"], item["peak_memory_bytes"]) == (cpu, memory)


def test_a_container_runs_peaks_are_kept_too(
    operator: OperatorProcess, real_node: Node, k8s: Client, namespace: str
) -> None:
    # A container task that holds 48 MiB (written, so resident) and keeps a core busy for
    # 45 s: its peaks are its own, sampled and recorded as a CoreHub run's are.
    busy = (
        "import time\n"
        "held = b'x' * (48 << 20)\n"
        "end = time.time() + 45\n"
        "while time.time() < end:\n"
        "    pass\n"
        "print('done', len(held))\n"
    )
    create(
        k8s,
        namespace,
        "busy",
        {
            "task": {
                "type": "container",
                "container": {
                    "image": real_node.runner_image,
                    "command": ["python", "-c"],
                    "args": [busy],
                },
            },
            "schedule": {"cron": "0 3 1 1 *"},
        },
    )
    wait_for(lambda: (get_cr(k8s, namespace, "busy").get("status") or {}).get("cronJobName"))
    k8s.patch(
        ChronosJobResource,
        "busy",
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "once"}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    def peaked() -> dict[str, object] | None:
        status = get_cr(k8s, namespace, "busy").get("status") or {}
        for record in status.get("history") or []:
            if "peakMemoryBytes" in record:
                return dict(record)
        return None

    record = wait_for(peaked, 200, "the container run's peaks in its record")
    print(  # for the record
        f"container run {record['runId']}: {record['result']}, peak CPU "
        f"{record['peakCpuMillicores']} m, peak memory {record['peakMemoryBytes']} B"
    )
    assert record["result"] == "succeeded"
    cpu, memory = record["peakCpuMillicores"], record["peakMemoryBytes"]
    assert isinstance(cpu, float | int)
    assert isinstance(memory, int)
    assert cpu > 100  # a busy core, under its pod's CPU limit
    assert memory > 48 << 20
