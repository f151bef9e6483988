"""A container task on the REAL node (kubelet + containerd), issue 20 feature 7: its
exit code is the run's result, its last words the run's log tail, its timeout the Job's
deadline, all recorded by the operator (docs/operator.md, "Container tasks"). The image
is the runner image the node already holds (no registry), running a command of its own."""

from __future__ import annotations

from typing import Any

import pytest
from builders import create_chronosjob as create
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from support import get_cr, wait_for

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from realnode.fixtures import Node

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


def _run(k8s: Client, ns: str, name: str, container: dict[str, Any], **spec: Any) -> Any:
    create(
        k8s,
        ns,
        name,
        {
            "task": {"type": "container", "container": container},
            "schedule": {"cron": "0 3 1 1 *"},
            **spec,
        },
    )
    wait_for(lambda: (get_cr(k8s, ns, name).get("status") or {}).get("cronJobName"))
    k8s.patch(
        ChronosJobResource,
        name,
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "once"}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    try:
        # The operator records it in history (lastRun is the runner's own report).
        return wait_for(
            lambda: ((get_cr(k8s, ns, name).get("status") or {}).get("history") or [None])[0],
            timeout=120,
            what="the container run in history",
        )
    except AssertionError:
        # What the node did instead, for the failure's report.
        for job in k8s.list(Job, namespace=ns):
            print("Job", job.metadata and job.metadata.name, job.status)
        for pod in k8s.list(Pod, namespace=ns):
            print("Pod", pod.metadata and pod.metadata.name, pod.status)
        print("ChronosJob status", get_cr(k8s, ns, name).get("status"))
        raise


def test_exit_code_log_tail_and_timeout_reach_history(
    operator: OperatorProcess, real_node: Node, k8s: Client, namespace: str
) -> None:
    image = real_node.runner_image
    failed = _run(
        k8s,
        namespace,
        "fails",
        {
            "image": image,
            "command": ["python", "-c"],
            "args": ["print('exported 42 rows'); print('then it broke'); raise SystemExit(3)"],
        },
    )
    assert (failed["result"], failed["reason"], failed["reportedBy"]) == (
        "failed",
        "ExitCode",
        "operator",
    ), failed
    assert failed["message"] == "the container exited with code 3 (Error)", failed
    assert "exported 42 rows\nthen it broke" in failed["logTail"], failed
    ok = _run(
        k8s,
        namespace,
        "works",
        {
            "image": image,
            "command": ["python", "-c"],
            "args": ["open('/dev/termination-log', 'w').write('42 rows')"],
        },
    )
    assert (ok["result"], ok["reason"], ok.get("logTail")) == ("succeeded", "ExitCode", "42 rows")
    # No runner account is needed for a container task: nothing blocks its runs.
    conditions = get_cr(k8s, namespace, "works")["status"]["conditions"]
    assert not [x for x in conditions if x["type"] == "RunsBlocked" and x["status"] == "True"]
    late = _run(
        k8s,
        namespace,
        "late",
        {"image": image, "command": ["python", "-c", "import time; time.sleep(300)"]},
        timeoutSeconds=5,
    )
    assert (late["result"], late["reason"]) == ("failed", "DeadlineExceeded"), late
