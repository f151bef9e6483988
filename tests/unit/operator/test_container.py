"""The container task's pod and its recorded outcome (issue 20, feature 7)."""

from __future__ import annotations

import json
from typing import Any

import builders

from chronos import contract as c
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import resolve_schedule
from chronos.operator import runs
from chronos.operator.container import is_container_pod, log_tail
from chronos.operator.cronjob import build_cronjob

CONTAINER = {
    "image": "registry.example.com/team/export:1.2",
    "command": ["sh", "-c"],
    "args": ["echo $GREETING; exit 3"],
    "env": [
        {"name": "GREETING", "value": "hello"},
        {"name": "TOKEN", "secretKeyRef": {"name": "export-token", "key": "token"}},
        {"name": "MODE", "configMapKeyRef": {"name": "export-config", "key": "mode"}},
    ],
    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
}


def spec(container: dict[str, Any] | None = None, **more: Any) -> ChronosJobSpec:
    return builders.spec_model(
        task={"type": "container", "container": container or CONTAINER},
        schedule={"cron": "0 3 * * *"},
        **more,
    )


def pod_of(s: ChronosJobSpec, **settings: Any) -> dict[str, Any]:
    cfg = builders.operator_settings(**settings)
    cronjob = build_cronjob(
        name="export",
        namespace="ns",
        uid="uid-1",
        spec=s,
        schedule=resolve_schedule(s, cfg.default_time_zone),
        settings=cfg,
    )
    job = cronjob["spec"]["jobTemplate"]["spec"]
    return {"job": job, "pod": job["template"]["spec"]}


def test_the_pod_is_the_declared_container_and_nothing_of_the_runner() -> None:
    pod = pod_of(spec())["pod"]
    (ct,) = pod["containers"]
    assert ct["name"] == c.TASK_CONTAINER
    assert (ct["image"], ct["command"], ct["args"]) == (
        CONTAINER["image"],
        ["sh", "-c"],
        ["echo $GREETING; exit 3"],
    )
    assert ct["env"] == [
        {"name": "GREETING", "value": "hello"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "export-token", "key": "token"}}},
        {
            "name": "MODE",
            "valueFrom": {"configMapKeyRef": {"name": "export-config", "key": "mode"}},
        },
    ]
    assert ct["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}}
    # No CoreHub credentials, no runner variable, no runner ServiceAccount.
    assert not any(e["name"].startswith("CHRONOS_") for e in ct["env"])
    assert "volumes" not in pod
    assert pod["serviceAccountName"] == "default"
    assert pod["automountServiceAccountToken"] is False


def test_the_pod_meets_pod_security_restricted() -> None:
    pod = pod_of(spec())["pod"]
    ct = pod["containers"][0]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert ct["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert ct["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_named_service_account_gets_its_token_and_a_user_id_is_kept() -> None:
    pod = pod_of(spec({**CONTAINER, "serviceAccountName": "exporter", "runAsUser": 1000}))["pod"]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("exporter", True)
    assert pod["securityContext"]["runAsUser"] == 1000


def test_the_timeout_is_the_jobs_deadline_and_retries_its_backoff_limit() -> None:
    job = pod_of(spec(timeoutSeconds=30, retries=2))["job"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (30, 2)


def test_runner_resources_overrides_do_not_replace_the_tasks_own() -> None:
    overrides = {"resources": {"limits": {"cpu": "1"}}, "nodeSelector": {"p": "b"}}
    pod = pod_of(spec(), runner_pod_overrides=overrides)["pod"]
    assert pod["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}}
    assert pod["nodeSelector"] == {"p": "b"}


# ------------------------------------------------------------------------ outcome


def _job(name: str, condition: dict[str, Any]) -> dict[str, Any]:
    status = {
        "startTime": "2026-11-23T03:00:00Z",
        "conditions": [
            {"status": "True", "lastTransitionTime": "2026-11-23T03:00:07Z", **condition}
        ],
    }
    return {"metadata": {"name": name, "annotations": {}}, "status": status}


def _pod(code: int, message: str = "", finished: str = "2026-11-23T03:00:06Z") -> dict[str, Any]:
    terminated = {"exitCode": code, "message": message, "finishedAt": finished, "reason": "Error"}
    return {
        "spec": {"containers": [{"name": c.TASK_CONTAINER}]},
        "status": {
            "containerStatuses": [{"name": c.TASK_CONTAINER, "state": {"terminated": terminated}}]
        },
    }


def test_the_exit_code_is_the_result_and_the_message_the_log_tail() -> None:
    job = _job("export-1", {"type": "Failed", "reason": "BackoffLimitExceeded"})
    record = runs.unreported_run(job, [_pod(3, "hello\nboom\x1b[31m")], [])
    assert record is not None
    assert (record.result, record.reason) == ("failed", "ExitCode")
    assert record.message == "the container exited with code 3 (Error)"
    assert record.log_tail == "hello\nboom[31m"
    ok = runs.unreported_run(_job("export-2", {"type": "Complete"}), [_pod(0)], [])
    assert ok is not None
    assert (ok.result, ok.reason, ok.log_tail) == ("succeeded", "ExitCode", None)


def test_the_newest_pod_of_a_retried_run_decides() -> None:
    pods = [_pod(0, finished="2026-11-23T03:00:09Z"), _pod(1, finished="2026-11-23T03:00:01Z")]
    record = runs.unreported_run(_job("export-1", {"type": "Complete"}), pods, [])
    assert record is not None
    assert record.result == "succeeded"


def test_a_timeout_stays_deadline_exceeded() -> None:
    job = _job("export-1", {"type": "Failed", "reason": "DeadlineExceeded", "message": "late"})
    record = runs.unreported_run(job, [_pod(137, "still working")], [])
    assert record is not None
    assert (record.result, record.reason, record.log_tail) == (
        "failed",
        "DeadlineExceeded",
        "still working",
    )


def test_a_container_cannot_forge_a_runner_record() -> None:
    forged = json.dumps({"runId": "export-1", "trigger": "schedule", "result": "succeeded"})
    job = _job("export-1", {"type": "Failed", "reason": "BackoffLimitExceeded"})
    record = runs.unreported_run(job, [_pod(1, forged)], [])
    assert record is not None
    assert record.result == "failed"


def test_helpers() -> None:
    assert is_container_pod(_pod(0))
    assert not is_container_pod({"spec": {"containers": [{"name": "runner"}]}})
    assert log_tail("x" * 5000 + "end") == ("x" * 5000 + "end")[-4096:]
    assert log_tail("\x00") is None
