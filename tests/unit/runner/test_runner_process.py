"""``python -m chronos.runner`` as a process against the fake CoreHub: exit codes, logs,
termination message. No ChronosJob is named here, so no status is written (see
test_runner_cluster.py for that)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fixtures_corehub import RunRunner, runner_env

from chronos import contract
from chronos.fakehub import FakeCoreHub, FakeHubControl, FakeHubState, TLSFiles
from chronos.runner.slot import jitter_delay

START_E1 = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}


def steps(lines: list[dict[str, Any]]) -> list[str]:
    return [line["step"] for line in lines]


def test_success(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    env = runner_env(fakehub.url, START_E1, **{contract.ENV_RUN_ID: "job-1"})
    result = run_runner(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(c["path"], c["status"]) for c in fakehub.commands()] == [
        ("/pipelines/p1/commands/sync/start", 200)
    ]
    assert steps(result.lines)[:3] == ["start", "login", "command"]
    assert {"wait", "result", "status"} <= set(steps(result.lines))
    assert all(line["runId"] == "job-1" for line in result.lines[1:])
    final = next(line for line in result.lines if line["step"] == "result")
    assert (final["exitCode"], final["reason"]) == (0, "Succeeded")
    status = next(line for line in result.lines if line["step"] == "status")
    assert status["level"] == "warning"  # no ChronosJob named
    assert result.termination is not None
    assert result.termination["runId"] == "job-1"
    assert result.termination["result"] == "succeeded"
    assert result.termination["reportedBy"] == "runner"
    assert result.termination["entities"] == [
        {"id": "e1", "result": "succeeded", "state": "Active", "message": "start done"}
    ]
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "fake." not in result.stdout + result.stderr  # no token


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({contract.ENV_TASK: "{not json"}, "CHRONOS_TASK must be the JSON of spec.task"),
        ({contract.ENV_TASK: '{"type": "entity_start", "pipelineId": "p1"}'}, "entityIds"),
        ({"CHRONOS_COREHUB_URLL": "x"}, "did you mean CHRONOS_COREHUB_URL"),
        ({contract.ENV_COREHUB_CA_FILE: "/nonexistent.pem"}, "no CA bundle"),
        ({contract.ENV_TIMEOUT_SECONDS: "soon"}, "TIMEOUT_SECONDS"),
        # Issue 17: an id that would leave its CoreHub path segment; nothing is sent.
        (
            {contract.ENV_TASK: '{"type": "pipeline_stop", "pipelineId": "x/../../_fake/state#"}'},
            "CHRONOS_TASK: must be a CoreHub id",
        ),
    ],
)
def test_configuration_errors(
    fakehub: FakeHubControl, run_runner: RunRunner, overrides: dict[str, str], problem: str
) -> None:
    env = runner_env(fakehub.url, START_E1, **{contract.ENV_RUN_ID: "job-2", **overrides})
    result = run_runner(env)
    assert result.returncode == 2
    assert problem in result.lines[0]["message"]
    assert result.termination is not None
    assert (result.termination["reason"], result.termination["runId"]) == (
        "ConfigurationError",
        "job-2",
    )
    assert fakehub.requests() == []


def test_missing_password_is_a_configuration_error(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    env = runner_env(fakehub.url, START_E1)
    del env[contract.ENV_COREHUB_PASSWORD]
    assert run_runner(env).returncode == 2


def test_authentication_failure(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    env = runner_env(fakehub.url, START_E1, **{contract.ENV_COREHUB_PASSWORD: "wrong"})
    result = run_runner(env)
    assert result.returncode == 3
    assert result.termination is not None
    assert result.termination["reason"] == "AuthenticationFailed"
    assert fakehub.commands() == []
    assert "wrong" not in result.stdout


def test_task_rejected(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    task = {"type": "entity_stop", "pipelineId": "p1", "entityIds": ["ghost", "e1"]}
    result = run_runner(runner_env(fakehub.url, task))
    assert result.returncode == 4
    assert result.termination is not None
    assert "Entity ghost not found" in result.termination["message"]
    assert [e["result"] for e in result.termination["entities"]] == ["failed", "succeeded"]


def test_never_reaching_the_state_is_a_timeout(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    fakehub.add_fault("stuck", path="/commands/")
    env = runner_env(fakehub.url, START_E1, **{contract.ENV_TIMEOUT_SECONDS: "2"})
    result = run_runner(env)
    assert result.returncode == 5
    assert result.termination is not None
    assert result.termination["reason"] == "Timeout"
    assert len(fakehub.commands()) == 1


def test_unreachable(run_runner: RunRunner) -> None:
    with FakeCoreHub(FakeHubState()) as hub:
        url = hub.url
    result = run_runner(runner_env(url, START_E1))
    assert result.returncode == 6
    assert "retry" in steps(result.lines)


def test_entity_error(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    fakehub.set_entity("p1", "e1", errorState={"severity": "ERROR", "message": "disk full"})
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 7
    assert result.termination is not None
    assert "disk full" in result.termination["message"]


def test_retries_then_success(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    fakehub.add_fault("status", path="/commands/", status=503, count=2)
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 0
    assert [c["status"] for c in fakehub.commands()] == [503, 503, 200]
    assert steps(result.lines).count("retry") == 2


def test_tls_with_ca_file(
    fakehub_tls: FakeHubControl, fakehub_tls_files: TLSFiles, run_runner: RunRunner
) -> None:
    env = runner_env(
        fakehub_tls.url,
        START_E1,
        **{contract.ENV_COREHUB_CA_FILE: str(fakehub_tls_files.ca_cert)},
    )
    result = run_runner(env)
    assert result.returncode == 0, result.stdout
    assert "tls" not in steps(result.lines)
    assert len(fakehub_tls.commands()) == 1


def test_tls_without_ca_is_unreachable(fakehub_tls: FakeHubControl, run_runner: RunRunner) -> None:
    result = run_runner(runner_env(fakehub_tls.url, START_E1))
    assert result.returncode == 6
    final = next(line for line in result.lines if line["step"] == "result")
    assert "CERTIFICATE_VERIFY_FAILED" in final["message"]
    assert "retry" not in steps(result.lines)


def test_insecure_skip_verify(fakehub_tls: FakeHubControl, run_runner: RunRunner) -> None:
    env = runner_env(
        fakehub_tls.url, START_E1, **{contract.ENV_COREHUB_INSECURE_SKIP_VERIFY: "true"}
    )
    result = run_runner(env)
    assert result.returncode == 0
    tls = [line for line in result.lines if line["step"] == "tls"]
    assert len(tls) == 1
    assert tls[0]["level"] == "warning"


# ------------------------------------------- success only on evidence; unusable answers

#: Each case below must end well before this deadline (not by running into it).
DEADLINE = 30.0
SNAPSHOT_E1 = {"type": "entity_snapshot", "pipelineId": "p1", "entityIds": ["e1"]}


def final_line(result: Any) -> dict[str, Any]:
    return next(line for line in result.lines if line["step"] == "result")


def run_quick(run_runner: RunRunner, url: str, task: dict[str, Any], **settings: str) -> Any:
    env = runner_env(
        url,
        task,
        **{
            contract.ENV_TIMEOUT_SECONDS: f"{DEADLINE:g}",
            "CHRONOS_COREHUB_MIGRATION_START_TIMEOUT_SECONDS": "1",
            **settings,
        },
    )
    result = run_runner(env)
    assert result.termination is not None, result.stdout + result.stderr
    # Well before the deadline: the outcome is known, not waited out.
    assert result.termination["durationSeconds"] < DEADLINE / 3, result.termination
    assert "Traceback" not in result.stderr
    return result


def test_snapshot_whose_migration_never_starts_is_a_timeout_not_success(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    # The outside tester's case: entity busy, migration not active, and it stays so.
    fakehub.set_entity("p1", "e1", isBusy=True)
    fakehub.add_fault("stuck", path="one-time-snapshot$")
    result = run_quick(run_runner, fakehub.url, SNAPSHOT_E1)
    assert result.returncode == 5
    assert result.termination["reason"] == "Timeout"
    assert result.termination["result"] == "failed"
    entity = result.termination["entities"][0]
    assert entity["result"] == "failed"
    assert entity["message"].startswith("migration never started: CoreHub accepted ")
    assert "e1: CoreHub busy with it, no migration" in entity["message"]
    assert "migration never started" in final_line(result)["message"]
    assert [c["path"].rsplit("/", 1)[-1] for c in fakehub.commands()] == [
        "stop",
        "one-time-snapshot",
    ]


def test_redo_of_a_running_entity_that_never_migrates(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    # It used to be "redo done" at once: the entity was running before and after.
    fakehub.set_entity("p1", "e1", isSyncActive=True)
    fakehub.add_fault("stuck", path="/redo$")
    task = {"type": "entity_redo", "pipelineId": "p1", "entityIds": ["e1"]}
    result = run_quick(run_runner, fakehub.url, task)
    assert (result.returncode, result.termination["reason"]) == (5, "Timeout")
    assert "migration never started" in result.termination["message"]


@pytest.mark.parametrize(
    "task",
    [
        {"type": "group_start", "pipelineId": "p1", "groupIds": ["g1"]},
        {"type": "pipeline_snapshot", "pipelineId": "p1"},
    ],
)
def test_entity_list_answered_with_html_is_unusable_and_sends_nothing(
    fakehub: FakeHubControl, run_runner: RunRunner, task: dict[str, Any]
) -> None:
    # It used to be "group has no entities", exit 0, after CoreHub accepted the command.
    fakehub.add_fault("answer", path="^/pipelines/p1/entities$", count=None)
    result = run_quick(run_runner, fakehub.url, task)
    assert result.returncode == 8
    assert result.termination["reason"] == "UnusableAnswer"
    assert (
        "CoreHub answered something that is not a list of entities to GET /pipelines/p1/entities"
        in result.termination["message"]
    )
    assert "<!DOCTYPE html>" in result.termination["message"]
    assert fakehub.commands() == []


@pytest.mark.parametrize(
    ("fault", "quoted"),
    [
        ({"kind": "answer"}, "<!DOCTYPE html>"),
        ({"kind": "answer", "json": [None]}, "[null]"),
        ({"kind": "answer", "json": {"message": "try later"}}, '{"message": "try later"}'),
    ],
)
def test_entity_status_that_is_not_entity_status_fails_fast(
    fakehub: FakeHubControl, run_runner: RunRunner, fault: dict[str, Any], quoted: str
) -> None:
    # HTML used to be polled until the deadline and blamed on the entity (Timeout);
    # [null] and {"message"} ended as InternalError from a TypeError/AttributeError.
    fakehub.add_fault(path="/entities-status$", count=None, **fault)
    result = run_quick(run_runner, fakehub.url, START_E1)
    assert result.returncode == 8
    assert result.termination["reason"] == "UnusableAnswer"
    message = result.termination["message"]
    assert (
        "CoreHub answered something that is not entity status to "
        "GET /pipelines/p1/entities-status" in message
    )
    assert quoted in message
    assert final_line(result)["exitCode"] == 8
    # The start was sent once (CoreHub acted on it); nothing was re-sent.
    assert len(fakehub.commands()) == 1


def test_a_scheduled_run_waits_its_jitter_and_records_its_slot(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    """Issue 19: slot + jitter delay before the first CoreHub request; the record carries
    the schedule and the slot's instant, wall time and offset."""
    slot = datetime.now(UTC).replace(microsecond=0)
    name = next(n for n in (f"job-{i}" for i in range(500)) if jitter_delay("ns", n, slot, 5) >= 3)
    delay = jitter_delay("ns", name, slot, 5)
    env = runner_env(
        fakehub.url,
        START_E1,
        **{
            contract.ENV_RUN_ID: "nightly-1",
            contract.ENV_JOB_NAME: name,
            contract.ENV_JOB_NAMESPACE: "ns",
            contract.ENV_SCHEDULE: "evening",
            contract.ENV_SCHEDULED_TIME: slot.isoformat(),
            contract.ENV_TIME_ZONE: "Asia/Kolkata",
            contract.ENV_JITTER_SECONDS: "5",
        },
    )
    result = run_runner(env)
    assert result.returncode == 0, result.stdout + result.stderr
    login = next(line for line in result.lines if line["step"] == "login")
    assert datetime.fromisoformat(login["time"]) >= slot + timedelta(seconds=delay)
    start = result.lines[0]
    assert start["step"] == "start"
    assert start["schedule"] == "evening"
    assert start["jitterSeconds"] > 0
    record = result.termination
    assert record is not None
    assert datetime.fromisoformat(record["scheduledTime"]) == slot
    assert record["schedule"] == "evening"
    local = slot.astimezone(ZoneInfo("Asia/Kolkata"))
    assert record["slotWallTime"] == local.strftime("%Y-%m-%dT%H:%M:%S")
    assert record["slotOffset"] == "+05:30"


def test_a_run_now_has_no_slot_and_no_jitter(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    env = runner_env(
        fakehub.url,
        START_E1,
        **{
            contract.ENV_RUN_ID: "nightly-now-0123456789abcdef",
            contract.ENV_TRIGGER: "run-now",
            contract.ENV_JITTER_SECONDS: "3600",
            contract.ENV_TIME_ZONE: "UTC",
        },
    )
    result = run_runner(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jitterSeconds" not in result.lines[0]
    assert result.termination is not None
    assert "scheduledTime" not in result.termination
    assert "slotWallTime" not in result.termination
