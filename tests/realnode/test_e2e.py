"""End to end on the real node: ChronosJob → operator → CronJob/Job → kubelet and containerd
→ runner pod of the runner image (with the runner ServiceAccount's own token, through
Service 10.0.0.1 via kube-proxy) → fake CoreHub on the node address → status.

The usual fixture names (cluster, k8s, fakehub_server, operator) are the real node's
control plane, its fake CoreHub and its operator (tests/realnode/conftest.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from builders import create_chronosjob as create
from lightkube import Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount
from support import get_cr, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.devcluster.system import KindTarget
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import chronos_job, received, run_now_and_report

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


FAMILIES: list[tuple[dict[str, Any], list[tuple[str, dict[str, str]]]]] = [
    # (task, the CoreHub commands it must cause, in order)
    (
        {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]},
        [
            ("/pipelines/p1/commands/sync/start", {"entity": "e1"}),
            ("/pipelines/p1/commands/sync/start", {"entity": "e2"}),
        ],
    ),
    (
        {"type": "pipeline_stop", "pipelineId": "p1"},
        [("/pipelines/p1/commands/sync/stop", {})],
    ),
    (
        {"type": "group_start", "pipelineId": "p1", "groupIds": ["g1"]},
        [("/pipelines/p1/commands/sync/start-group", {"groupId": "g1"})],
    ),
]


@pytest.mark.parametrize(("task", "commands"), FAMILIES, ids=[f[0]["type"] for f in FAMILIES])
def test_run_now_executes_each_task_family_once_and_reports_it(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    task: dict[str, Any],
    commands: list[tuple[str, dict[str, str]]],
) -> None:
    ns = runner_rbac
    last = run_now_and_report(k8s, ns, "orders", fakehub_server.url, task)
    assert last["result"] == "succeeded", last
    assert last["trigger"] == "run-now"
    assert last["reportedBy"] == "runner"
    assert last["runId"].startswith("orders-now-")
    assert {e["result"] for e in last["entities"]} == {"succeeded"}
    history = get_cr(k8s, ns, "orders")["status"]["history"]
    assert [h["runId"] for h in history] == [last["runId"]]
    assert received(fakehub) == commands  # each exactly once, in order


def test_a_scheduled_run_fires_in_its_zone_and_is_reported(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
) -> None:
    ns = runner_rbac
    zone = ZoneInfo("Asia/Kathmandu")
    slot = (datetime.now(zone) + timedelta(seconds=75)).replace(second=0, microsecond=0)
    body = chronos_job(fakehub_server.url, {"type": "pipeline_start", "pipelineId": "p1"})
    body.update(schedule={"cron": f"{slot.minute} {slot.hour} * * *"}, timeZone=zone.key)
    create(k8s, ns, "timed", body)
    last = wait_for(
        lambda: (get_cr(k8s, ns, "timed").get("status") or {}).get("lastRun"),
        timeout=160,
        what="the scheduled run's report",
    )
    assert last["result"] == "succeeded", last
    assert last["trigger"] == "schedule"
    status = get_cr(k8s, ns, "timed")["status"]
    assert datetime.fromisoformat(status["lastScheduleTime"]) == slot
    assert datetime.fromisoformat(status["nextRunTimes"][0]) == slot + timedelta(days=1)
    assert received(fakehub) == [("/pipelines/p1/commands/sync/start", {})]


def test_the_runner_account_can_write_run_status_and_nothing_else(
    cluster: KindTarget, k8s: Client, runner_rbac: str
) -> None:
    ns = runner_rbac
    token = k8s.create(
        ServiceAccount.Token(metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[])),
        "chronos-runner",
        namespace=ns,
    )
    assert token.status is not None
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    def can(*args: str) -> bool:
        out = cluster.kubectl(
            "--kubeconfig=/dev/null",
            f"--server={server}",
            "--insecure-skip-tls-verify",
            f"--token={token.status.token}",  # type: ignore[union-attr]
            "auth",
            "can-i",
            *args,
            check=False,
        )
        return out.strip().startswith("yes")

    assert can("get", "chronosjobs.chronos.gluesync.io", "-n", ns)
    assert can("patch", "chronosjobs.chronos.gluesync.io", "--subresource=status", "-n", ns)
    refused = [
        ("get", "secrets", "-n", ns),
        ("list", "chronosjobs.chronos.gluesync.io", "-n", ns),
        ("patch", "chronosjobs.chronos.gluesync.io", "-n", ns),
        ("create", "jobs.batch", "-n", ns),
        ("patch", "cronjobs.batch", "-n", ns),
        ("get", "chronosjobs.chronos.gluesync.io", "-n", "default"),
        ("create", "pods", "-n", ns),
    ]
    assert [args for args in refused if can(*args)] == []


def test_a_run_rejected_by_corehub_fails_with_its_message(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
) -> None:
    ns = runner_rbac
    task = {"type": "entity_stop", "pipelineId": "no-such-pipeline", "entityIds": ["x"]}
    last = run_now_and_report(k8s, ns, "broken", fakehub_server.url, task)
    assert last["result"] == "failed", last
    assert last["message"]
