"""A run-now's parameters (env CHRONOS_PARAMETERS) reach CoreHub: the runner as a process
against the fake CoreHub over real HTTP, its command log the evidence."""

from __future__ import annotations

import json

from fixtures_corehub import RunRunner, runner_env

from chronos import contract
from chronos.fakehub import FakeHubControl

START_ALL = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2", "e3"]}


def _entity_commands(fakehub: FakeHubControl) -> list[tuple[str, str | None]]:
    return [
        (c["path"], dict(c["params"]).get("entity"))
        for c in fakehub.commands()
        if c["status"] == 200
    ]


def test_an_entity_subset_sends_commands_for_that_subset_only(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    parameters = {
        "entityIds": ["e3", "e1"],
        "withSnapshot": True,
        "snapshotWriteMethod": "INSERT",
        "asOf": "2026-03-01T09:00:00Z",
    }
    env = runner_env(
        fakehub.url,
        START_ALL,
        **{
            contract.ENV_RUN_ID: "job-p1",
            contract.ENV_TRIGGER: "run-now",
            contract.ENV_PARAMETERS: json.dumps(parameters),
        },
    )
    result = run_runner(env)
    assert result.returncode == 0, result.stdout + result.stderr
    start = "/pipelines/p1/commands/sync/start"
    assert _entity_commands(fakehub) == [(start, "e3"), (start, "e1")]
    sent = [dict(c["params"]) for c in fakehub.commands()]
    assert all(s["withSnapshot"] == "true" and s["snapshotWriteMethod"] == "INSERT" for s in sent)
    assert result.termination is not None
    assert result.termination["parameters"] == parameters
    assert [e["id"] for e in result.termination["entities"]] == ["e3", "e1"]
    first = result.lines[0]
    assert first["step"] == "start"
    assert first["parameters"] == parameters
    assert first["task"]["entityIds"] == ["e3", "e1"]


def test_without_parameters_the_whole_task_runs(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    env = runner_env(fakehub.url, START_ALL, **{contract.ENV_RUN_ID: "job-p2"})
    result = run_runner(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [e for _, e in _entity_commands(fakehub)] == ["e1", "e2", "e3"]
    assert result.termination is not None
    assert "parameters" not in result.termination


def test_ids_outside_the_job_are_a_configuration_error_and_nothing_is_sent(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    env = runner_env(
        fakehub.url,
        START_ALL,
        **{
            contract.ENV_RUN_ID: "job-p3",
            contract.ENV_PARAMETERS: json.dumps({"entityIds": ["e1", "e4"]}),
        },
    )
    result = run_runner(env)
    assert result.returncode == 2
    assert result.termination is not None
    assert result.termination["reason"] == "ConfigurationError"
    assert (
        "CHRONOS_PARAMETERS.entityIds[1]: 'e4' is not one of the job's ids"
        in (result.termination["message"])
    )
    assert fakehub.commands() == []
