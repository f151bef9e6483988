"""The runner against the real control plane and the fake CoreHub: status.lastRun and
status.history on a real ChronosJob, conflicts between writers, an unreachable API server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from builders import spec
from fixtures_corehub import RunRunner, runner_env
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.types import PatchType

from chronos import contract
from chronos.devcluster.cluster import Cluster
from chronos.fakehub import FakeHubControl
from chronos.kube import ChronosJobResource
from chronos.models.chronosjob import RunRecord
from chronos.runner.status import write_run

pytestmark = pytest.mark.cluster

TASK = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
OLD_RUN: dict[str, Any] = {
    "runId": "old-slot",
    "trigger": "schedule",
    "result": "missed",
    "scheduledTime": "2026-01-01T08:30:00Z",
    "reason": "Missed",
    "message": "recorded by the operator",
    "reportedBy": "operator",
}
CONDITION = {
    "type": "Ready",
    "status": "True",
    "reason": "Applied",
    "message": "",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def make_job(k8s: Client, namespace: str, name: str = "morning") -> None:
    k8s.create(
        ChronosJobResource(
            # Disabled: an operator running against the same cluster then has no runs
            # of its own to record in this job's history.
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=spec(task=TASK, enabled=False),
        )
    )
    # What the operator would have written: its own fields plus a run it recorded.
    k8s.patch(
        ChronosJobResource.Status,
        name,
        {
            "status": {
                "cron": "30 8 * * 1-5",
                "conditions": [CONDITION],
                "lastRun": OLD_RUN,
                "history": [OLD_RUN],
            }
        },
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


def status_of(k8s: Client, namespace: str, name: str = "morning") -> dict[str, Any]:
    obj = k8s.get(ChronosJobResource, name, namespace=namespace)
    return cast(dict[str, Any], obj.status)


def env_for(
    url: str, cluster: Cluster, namespace: str, run_id: str, **extra: str
) -> dict[str, str]:
    env = runner_env(
        url,
        TASK,
        **{
            contract.ENV_JOB_NAME: "morning",
            contract.ENV_JOB_NAMESPACE: namespace,
            contract.ENV_RUN_ID: run_id,
            contract.ENV_TRIGGER: "run-now",
            contract.ENV_HISTORY_LIMIT: "5",
            **extra,
        },
    )
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    return env


def test_runner_writes_last_run_and_history(
    k8s: Client, cluster: Cluster, namespace: str, fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    make_job(k8s, namespace)
    result = run_runner(env_for(fakehub.url, cluster, namespace, "morning-001"))
    assert result.returncode == 0, result.stdout + result.stderr
    starts = [c for c in fakehub.commands() if c["path"].endswith("/commands/sync/start")]
    assert len(starts) == 1
    assert starts[0]["params"] == [
        ["entity", "e1"],
        ["withSnapshot", "false"],
        ["snapshotWriteMethod", "UPSERT"],
    ]

    status = status_of(k8s, namespace)
    last = status["lastRun"]
    assert last["runId"] == "morning-001"
    assert (last["trigger"], last["result"], last["reason"], last["reportedBy"]) == (
        "run-now",
        "succeeded",
        "Succeeded",
        "runner",
    )
    assert last["entities"] == [
        {"id": "e1", "result": "succeeded", "state": "Active", "message": "start done"}
    ]
    started, ended = (datetime.fromisoformat(last[k]) for k in ("startTime", "endTime"))
    assert started <= ended
    # The duration is the run's own, not any non-negative number (times are whole seconds).
    assert abs(last["durationSeconds"] - (ended - started).total_seconds()) <= 1
    # Nothing of the operator's lastRun survives in the runner's.
    assert "scheduledTime" not in last
    assert [h["runId"] for h in status["history"]] == ["morning-001", "old-slot"]
    assert status["history"][0] == last
    assert status["history"][1] == OLD_RUN
    # The operator's fields are still there. (An operator may be reconciling this job
    # concurrently and rewrite them, so only their presence is certain; status_patch's
    # unit test shows the runner's patch names lastRun and history only.)
    assert status["cron"] == "30 8 * * 1-5"
    assert "Ready" in [c["type"] for c in status["conditions"]]
    assert RunRecord.model_validate(result.termination) == RunRecord.model_validate(last)
    logged = [line for line in result.lines if line["step"] == "status"]
    assert logged[-1]["level"] == "info"


def test_a_retried_run_replaces_its_entry(
    k8s: Client, cluster: Cluster, namespace: str, fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    make_job(k8s, namespace)
    assert run_runner(env_for(fakehub.url, cluster, namespace, "morning-002")).returncode == 0
    fakehub.add_fault("status", path="/commands/", status=400, message="busy")
    assert run_runner(env_for(fakehub.url, cluster, namespace, "morning-002")).returncode == 4
    status = status_of(k8s, namespace)
    assert [h["runId"] for h in status["history"]] == ["morning-002", "old-slot"]
    assert status["history"][0]["result"] == "failed"
    assert status["lastRun"]["reason"] == "TaskRejected"


def test_history_limit(
    k8s: Client, cluster: Cluster, namespace: str, fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    make_job(k8s, namespace)
    for i in range(3):
        env = env_for(
            fakehub.url, cluster, namespace, f"run-{i}", **{contract.ENV_HISTORY_LIMIT: "2"}
        )
        assert run_runner(env).returncode == 0
    assert [h["runId"] for h in status_of(k8s, namespace)["history"]] == ["run-2", "run-1"]


def test_concurrent_runners_keep_each_others_entries(
    k8s: Client, cluster: Cluster, namespace: str, fakehub: FakeHubControl, tmp_path: Path
) -> None:
    make_job(k8s, namespace)
    procs = []
    for run_id in ("left", "right"):
        env = env_for(fakehub.url, cluster, namespace, run_id)
        env[contract.ENV_TERMINATION_MESSAGE_PATH] = str(tmp_path / run_id)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "chronos.runner"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    history = [h["runId"] for h in status_of(k8s, namespace)["history"]]
    assert sorted(history[:2]) == ["left", "right"]
    assert history[2:] == ["old-slot"]
    assert len(fakehub.commands()) == 2


class _Interleaving:
    """A client through which another writer's update lands between read and patch."""

    def __init__(self, real: Client, other: RunRecord, namespace: str) -> None:
        self.real = real
        self.other = other
        self.namespace = namespace
        self.gets = 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        obj = self.real.get(*args, **kwargs)
        self.gets += 1
        if self.gets == 1:
            write_run(self.real, "morning", self.namespace, self.other, 10)
        return obj

    def patch(self, *args: Any, **kwargs: Any) -> Any:
        return self.real.patch(*args, **kwargs)


def _record(run_id: str) -> RunRecord:
    return RunRecord.model_validate(
        {"runId": run_id, "trigger": "schedule", "result": "succeeded", "reportedBy": "runner"}
    )


def test_a_conflict_is_merged_again_not_lost(k8s: Client, namespace: str) -> None:
    make_job(k8s, namespace)
    client = _Interleaving(k8s, _record("operator-wrote-this"), namespace)
    conflicts: list[int] = []
    attempts = write_run(
        cast(Client, client),
        "morning",
        namespace,
        _record("runner-run"),
        10,
        on_conflict=conflicts.append,
    )
    # At least the interleaved write conflicts; an operator reconciling the same job may
    # add more, each followed by a fresh merge.
    assert attempts >= 2
    assert conflicts == list(range(1, attempts))
    status = status_of(k8s, namespace)
    assert [h["runId"] for h in status["history"]] == [
        "runner-run",
        "operator-wrote-this",
        "old-slot",
    ]
    assert status["lastRun"]["runId"] == "runner-run"


def test_unreachable_api_server_keeps_the_task_result(
    fakehub: FakeHubControl, run_runner: RunRunner, tmp_path: Path, cluster: Cluster
) -> None:
    from chronos.devcluster.cluster import free_port

    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "gone",
                        "cluster": {
                            "server": f"https://127.0.0.1:{free_port()}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    for task_entity, code in (("e1", 0), ("ghost", 4)):
        env = env_for(fakehub.url, cluster, "nowhere", f"run-{task_entity}")
        env[contract.ENV_TASK] = json.dumps({**TASK, "entityIds": [task_entity]})
        env["KUBECONFIG"] = str(kubeconfig)
        result = run_runner(env)
        assert result.returncode == code, result.stdout
        failures = [line for line in result.lines if line["step"] == "status"]
        assert failures
        assert all(line["level"] == "error" for line in failures)
        assert result.termination is not None
        assert result.termination["runId"] == f"run-{task_entity}"


def test_the_log_tail_kept_with_the_run_holds_no_credential(
    k8s: Client, cluster: Cluster, namespace: str, fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    """Canary credentials that CoreHub quotes back, as a real server might: the tail in
    lastRun and history holds the run's steps, CoreHub's message masked, never them."""
    make_job(k8s, namespace)
    tag = uuid.uuid4().hex[:10]
    user, password = f"canary-user-{tag}", f"canary-pw-{tag}"
    fakehub.configure(users={user: password})
    fakehub.add_fault(
        "status",
        path="/commands/",
        status=400,
        message=f"user {user} (password {password}) may not start e1",
    )
    env = env_for(
        fakehub.url,
        cluster,
        namespace,
        "morning-canary",
        **{contract.ENV_COREHUB_USERNAME: user, contract.ENV_COREHUB_PASSWORD: password},
    )
    result = run_runner(env)
    assert result.returncode == 4, result.stdout + result.stderr
    status = status_of(k8s, namespace)
    tail = status["lastRun"]["logTail"]
    assert status["history"][0]["logTail"] == tail
    steps = [json.loads(line)["step"] for line in tail.splitlines()]
    assert (steps[0], steps[-1]) == ("start", "result"), steps
    assert "login" in steps
    assert "may not start e1" in tail
    assert "***" in tail
    # The tail is what the runner logged, up to its result line.
    assert result.stdout.startswith(tail)
    for where, text in {"status": json.dumps(status), "log": result.stdout + result.stderr}.items():
        assert user not in text, f"the login name is in the {where}"
        assert password not in text, f"the password is in the {where}"
