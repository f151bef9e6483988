"""``python -m chronos.runner`` as a process against the fake CoreHub: exit codes, logs,
termination message. No ChronosJob is named here, so no status is written (see
test_runner_cluster.py for that)."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_corehub import RunRunner, runner_env

from chronos import contract
from chronos.fakehub import FakeCoreHub, FakeHubControl, FakeHubState, TLSFiles

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
