"""Abort mid-run on the REAL node (issue 20, feature 5): a real runner pod waiting on a
CoreHub command gets SIGTERM from ``POST /api/jobs/{id}/runs/{run}/abort``, records the
run ``aborted`` with the command it had sent and the entity's state it read back, and
no pod is left behind."""

from __future__ import annotations

import re
from typing import Any

import pytest
from builders import allow
from builders import create_chronosjob as create
from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from support import get_cr, wait_for

from chronos import http
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import chronos_job

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


def _pods(k8s: Client, ns: str, run: str) -> list[Pod]:
    return list(k8s.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": run}))


def _record(k8s: Client, ns: str, job: str, run: str) -> dict[str, Any] | None:
    history = (get_cr(k8s, ns, job).get("status") or {}).get("history") or []
    return next((h for h in history if h.get("runId") == run), None)


def test_abort_mid_run_records_aborted_by_the_runner_and_leaves_no_pod(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    api: http.Client,
) -> None:
    ns = runner_rbac
    allow(
        k8s,
        ns,
        "alice",
        PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["delete", "patch"]),
    )
    # The start is accepted and never takes effect: the runner waits on it.
    fakehub.add_fault("stuck", path="/commands/", count=None)
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
    create(k8s, ns, "held", chronos_job(fakehub_server.url, task))
    wait_for(lambda: (get_cr(k8s, ns, "held").get("status") or {}).get("cronJobName"), 30)
    assert api.post("/api/jobs/held/run").status_code == 200
    run = wait_for(
        lambda: ((get_cr(k8s, ns, "held").get("status") or {}).get("activeRuns") or [None])[0],
        60,
        "the run's Job",
    )
    wait_for(lambda: len(fakehub.commands()) == 1, 120, "the runner's command")

    answer = api.post(f"/api/jobs/held/runs/{run}/abort")
    assert answer.status_code == 202, answer.text

    wait_for(lambda: not _pods(k8s, ns, run), 60, "the run's pods to be gone")
    # (Foreground deletion: the Job goes once its pods have.)
    wait_for(
        lambda: (
            not [j for j in k8s.list(Job, namespace=ns) if j.metadata and j.metadata.name == run]
        ),
        30,
        "the run's Job to be gone",
    )
    record = wait_for(lambda: _record(k8s, ns, "held", run), 30, "the aborted run's record")
    assert (record["result"], record["reason"]) == ("aborted", "Aborted")
    assert record["reportedBy"] == "runner"
    assert record["entities"] == [{"id": "e1", "result": "aborted", "state": "Hold"}]
    # The runner's words ("aborted (SIGTERM) after ..."), then the operator names who asked
    # (the runner cannot read its Job's note).

    def named() -> dict[str, Any] | None:
        found = _record(k8s, ns, "held", run)
        return found if found and "aborted by " in found["message"] else None

    record = wait_for(named, 30, "the record naming who aborted")
    assert re.match(
        r"aborted by \S+ \(SIGTERM\) after 1 CoreHub command\(s\) sent: ", record["message"]
    )
    assert "/pipelines/p1/commands/sync/start" in record["message"]
    # Nothing was sent after the signal.
    assert len(fakehub.commands()) == 1
