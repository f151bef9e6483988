"""End to end on the control plane: ChronosJob → operator → CronJob/Job → node agent →
runner pod (with the runner ServiceAccount's own token) → fake CoreHub → status."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml
from fixtures_operator import OperatorProcess
from lightkube import Client, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, RoleBinding
from lightkube.types import PatchType
from test_operator import create, get_cr, wait_for

from chronos import contract as c
from chronos.devcluster.nodeagent import NodeAgent
from chronos.fakehub import FakeCoreHub, FakeHubControl
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner_rbac(k8s: Client, namespace: str) -> str:
    """The runner ServiceAccount bound to the shipped runner ClusterRole, as installed."""
    role = yaml.safe_load((ROOT / "deploy" / "rbac" / "runner.yaml").read_text())
    k8s.apply(codecs.from_dict(role), field_manager="chronos-tests", force=True)
    k8s.create(ServiceAccount(metadata=ObjectMeta(name="chronos-runner", namespace=namespace)))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="chronos-runner", namespace=namespace),
            roleRef=RoleRef(
                apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name="chronos-runner"
            ),
            subjects=[Subject(kind="ServiceAccount", name="chronos-runner", namespace=namespace)],
        )
    )
    k8s.create(
        Secret(
            metadata=ObjectMeta(name="hub", namespace=namespace),
            stringData={"username": "admin", "password": "admin"},
        )
    )
    assert k8s.get(ClusterRole, "chronos-runner")
    return namespace


def chronos_job(url: str, task: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": task,
        "schedule": {"cron": "0 3 1 1 *"},
        "timeZone": "Europe/Rome",
        "timeoutSeconds": 60,
        "coreHub": {"url": url, "credentialsSecretRef": {"name": "hub"}},
    }


def run_now(k8s: Client, ns: str, name: str, token: str) -> None:
    k8s.patch(
        ChronosJobResource,
        name,
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: token}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def test_run_now_executes_the_task_once_and_reports_it(
    operator: OperatorProcess,
    node_agent: NodeAgent,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
) -> None:
    ns = runner_rbac
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]}
    create(k8s, ns, "orders", chronos_job(fakehub_server.url, task))
    wait_for(lambda: (get_cr(k8s, ns, "orders").get("status") or {}).get("cronJobName"))
    run_now(k8s, ns, "orders", "first")

    last = wait_for(
        lambda: (get_cr(k8s, ns, "orders").get("status") or {}).get("lastRun"),
        timeout=90,
        what="the runner's report",
    )
    assert last["result"] == "succeeded", last
    assert last["trigger"] == "run-now"
    assert last["reportedBy"] == "runner"
    assert last["runId"].startswith("orders-now-")
    assert [(e["id"], e["result"]) for e in last["entities"]] == [
        ("e1", "succeeded"),
        ("e2", "succeeded"),
    ]
    history = get_cr(k8s, ns, "orders")["status"]["history"]
    assert [h["runId"] for h in history] == [last["runId"]]
    starts = [cmd for cmd in fakehub.commands() if "/commands/sync/start" in cmd["path"]]
    entities = [dict(parse_qsl(cmd["query"]))["entity"] for cmd in starts]
    assert entities == ["e1", "e2"], starts  # each exactly once, in order


def test_a_run_rejected_by_corehub_fails_with_its_message(
    operator: OperatorProcess,
    node_agent: NodeAgent,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
) -> None:
    ns = runner_rbac
    task = {"type": "entity_stop", "pipelineId": "no-such-pipeline", "entityIds": ["x"]}
    create(k8s, ns, "broken", chronos_job(fakehub_server.url, task))
    wait_for(lambda: (get_cr(k8s, ns, "broken").get("status") or {}).get("cronJobName"))
    run_now(k8s, ns, "broken", "once")
    last = wait_for(
        lambda: (get_cr(k8s, ns, "broken").get("status") or {}).get("lastRun"),
        timeout=90,
        what="the runner's report",
    )
    assert last["result"] == "failed", last
    assert last["message"]
