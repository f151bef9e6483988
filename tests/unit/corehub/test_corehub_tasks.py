"""Issue 20's task types against the fake CoreHub: maintenance enter/exit and the waits.

Each with the faults the sync commands are tested with: retried and lost answers, a
refusal, an unusable answer, a state that never comes, an entity in Error; and the
runner's exit code and record for them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from fixtures_corehub import FAST_EXECUTE, MakeClient, Recorder, RunRunner, runner_env

from chronos import contract
from chronos.corehub import (
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    Deadline,
    EntityErrorStateError,
    NotConfiguredError,
    TaskRejectedError,
    UnusableAnswerError,
    execute,
)
from chronos.fakehub import FakeHubControl
from chronos.models.chronosjob import Task

ENTER = "/pipelines/p1/commands/maintenance/enter"
EXIT = "/pipelines/p1/commands/maintenance/exit"


def task(type_: str, **extra: Any) -> Task:
    body: dict[str, Any] = {"type": type_, "pipelineId": "p1", **extra}
    if type_ == "entity_wait":
        body.setdefault("entityIds", ["e1"])
    if type_ == "group_wait":
        body.setdefault("groupIds", ["g1"])
    if type_.endswith("_wait"):
        body.setdefault("waitFor", {"state": "Active", "timeoutSeconds": 2})
    return Task.model_validate(body)


def in_maintenance(fakehub: FakeHubControl) -> bool:
    (p1,) = [p for p in fakehub.state()["pipelines"] if p["id"] == "p1"]
    return bool(p1["isInMaintenanceMode"])


def received(fakehub: FakeHubControl) -> list[tuple[str, int | None, bool]]:
    return [(c["path"], c["status"], c["applied"]) for c in fakehub.commands()]


def messages(outcome: Any) -> list[str]:
    return [r.message for r in outcome.results]


# ------------------------------------------------------------------ maintenance


def test_enter_then_exit_sets_and_clears_the_flag(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    client = corehub()
    entered = execute(client, task("pipeline_maintenance_enter"), FAST_EXECUTE)
    assert entered.ok, messages(entered)
    assert [(r.id, r.state) for r in entered.results] == [("p1", "Maintenance")]
    assert in_maintenance(fakehub)
    # CoreHub then refuses sync commands on the pipeline: what maintenance is for.
    start = execute(
        client, Task.model_validate({"type": "pipeline_start", "pipelineId": "p1"}), FAST_EXECUTE
    )
    assert isinstance(start.error, TaskRejectedError)
    assert start.error.status_code == 409
    left = execute(client, task("pipeline_maintenance_exit"), FAST_EXECUTE)
    assert left.ok, messages(left)
    assert [(r.id, r.state) for r in left.results] == [("p1", "Running")]
    assert not in_maintenance(fakehub)
    assert [(p, s) for p, s, _ in received(fakehub) if "maintenance" in p] == [
        (ENTER, 200),
        (EXIT, 200),
    ]


def test_entering_twice_converges(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    for _ in range(2):
        outcome = execute(corehub(), task("pipeline_maintenance_enter"), FAST_EXECUTE)
        assert outcome.ok, messages(outcome)
    assert in_maintenance(fakehub)


def test_503_before_the_command_is_resent(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("status", path="/maintenance/enter$", status=503, count=2)
    outcome = execute(corehub(), task("pipeline_maintenance_enter"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert received(fakehub) == [(ENTER, 503, False), (ENTER, 503, False), (ENTER, 200, True)]
    assert len(recorder.steps("retry")) == 2


def test_applied_then_dropped_is_verified_not_resent(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("drop", path="/maintenance/enter$", after=True)
    outcome = execute(corehub(), task("pipeline_maintenance_enter"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert received(fakehub) == [(ENTER, None, True)]
    assert [v["applied"] for v in recorder.steps("verify")] == ["took-effect"]
    assert in_maintenance(fakehub)


def test_dropped_before_apply_is_resent_once_the_flag_shows_no_effect(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="/maintenance/exit$")
    fakehub.add_fault("drop", path="/maintenance/enter$")
    outcome = execute(corehub(), task("pipeline_maintenance_enter"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert received(fakehub) == [(ENTER, None, False), (ENTER, 200, True)]


def test_500_is_rejected_and_not_resent(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/maintenance/", status=500, message="agent offline")
    outcome = execute(corehub(), task("pipeline_maintenance_enter"), FAST_EXECUTE)
    assert isinstance(outcome.error, TaskRejectedError)
    assert "agent offline" in outcome.results[0].message
    assert len(received(fakehub)) == 1
    assert not in_maintenance(fakehub)


def test_unknown_pipeline_is_rejected(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    outcome = execute(
        corehub(), task("pipeline_maintenance_enter", pipelineId="nope"), FAST_EXECUTE
    )
    assert isinstance(outcome.error, TaskRejectedError)
    assert outcome.error.status_code == 404
    assert "Pipeline nope not found" in outcome.results[0].message


def test_a_flag_that_never_changes_times_out(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    # The command is accepted, but the pipeline keeps saying it is not in maintenance.
    fakehub.add_fault(
        "answer",
        method="GET",
        path="/pipelines/p1$",
        count=None,
        json={"id": "p1", "isInMaintenanceMode": False},
    )
    options = replace(FAST_EXECUTE, state_timeout=0.5)
    outcome = execute(corehub(), task("pipeline_maintenance_enter"), options)
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert "pipeline p1 in maintenance mode: not reached within 0.5s" in messages(outcome)[0]


def test_an_unusable_pipeline_answer_fails_the_run(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("answer", method="GET", path="/pipelines/p1$", count=None)
    outcome = execute(corehub(), task("pipeline_maintenance_exit"), FAST_EXECUTE)
    assert isinstance(outcome.error, UnusableAnswerError)
    assert "not a pipeline" in messages(outcome)[0]


# ------------------------------------------------------------------ waits


def test_a_wait_sends_no_command(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.set_entity("p1", "e1", isSyncActive=True)
    outcome = execute(corehub(), task("entity_wait"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert [(r.id, r.state, r.message) for r in outcome.results] == [
        ("e1", "Active", "Active reached")
    ]
    assert fakehub.commands() == []


def test_a_wait_is_met_when_the_state_comes_later(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.set_entity("p1", "e1", after=0.6, isSyncActive=True)
    began = time.monotonic()
    outcome = execute(corehub(), task("entity_wait"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert time.monotonic() - began >= 0.6


def test_a_wait_times_out_naming_the_state_it_saw(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.set_entity("p1", "e1", after=30, isSyncActive=True)  # long after the timeout
    wait = {"state": "Active", "timeoutSeconds": 1}
    began = time.monotonic()
    outcome = execute(corehub(), task("entity_wait", waitFor=wait), FAST_EXECUTE)
    assert 1.0 <= time.monotonic() - began < 3.0
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert not outcome.error.deadline_exceeded
    assert messages(outcome) == ["e1 not Active within the wait's 1s (now e1: Hold)"]


def test_the_timeout_is_one_budget_for_all_entities(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    wait = {"state": "Active", "timeoutSeconds": 1}
    began = time.monotonic()
    outcome = execute(
        corehub(), task("entity_wait", entityIds=["e1", "e2", "e3"], waitFor=wait), FAST_EXECUTE
    )
    # Not 1 s each: the later entities get what is left (one read at least).
    assert time.monotonic() - began < 2.0
    assert [r.ok for r in outcome.results] == [False, False, False]
    assert all("not Active within the wait's 1s" in m for m in messages(outcome))


def test_an_entity_in_error_fails_the_wait_at_once(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.set_entity("p1", "e1", after=0.3, errorState={"severity": "ERROR", "message": "boom"})
    wait = {"state": "Active", "timeoutSeconds": 20}
    began = time.monotonic()
    outcome = execute(corehub(), task("entity_wait", waitFor=wait), FAST_EXECUTE)
    assert time.monotonic() - began < 5
    assert isinstance(outcome.error, EntityErrorStateError)
    assert messages(outcome) == ["entity e1 is in Error: ERROR: boom"]


@pytest.mark.parametrize(
    ("error", "state"),
    [({"severity": "ERROR", "message": "x"}, "Error"), ({"severity": "WARNING"}, "Warning")],
)
def test_error_and_warning_can_be_waited_for(
    fakehub: FakeHubControl, corehub: MakeClient, error: dict[str, Any], state: str
) -> None:
    fakehub.set_entity("p1", "e1", after=0.2, errorState=error)
    wait = {"state": state, "timeoutSeconds": 5}
    outcome = execute(corehub(), task("entity_wait", waitFor=wait), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert outcome.results[0].state == state


def test_a_group_wait_needs_every_entity_of_the_group(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.set_entity("p1", "e3", isSyncActive=True)
    fakehub.set_entity("p1", "e4", after=0.5, isSyncActive=True)
    began = time.monotonic()
    outcome = execute(corehub(), task("group_wait"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert time.monotonic() - began >= 0.5
    assert [(r.id, r.state) for r in outcome.results] == [("g1", "Active")]


@pytest.mark.parametrize(
    ("type_", "ids", "said"),
    [
        ("entity_wait", {"entityIds": ["ghost"]}, "entity ghost is not configured in pipeline p1"),
        ("group_wait", {"groupIds": ["ghosts"]}, "no entity of group ghosts is configured"),
    ],
)
def test_waiting_for_what_is_not_configured_fails_at_once(
    fakehub: FakeHubControl, corehub: MakeClient, type_: str, ids: dict[str, Any], said: str
) -> None:
    wait = {"state": "Hold", "timeoutSeconds": 60}
    began = time.monotonic()
    outcome = execute(corehub(), task(type_, waitFor=wait, **ids), FAST_EXECUTE)
    assert time.monotonic() - began < 5
    assert isinstance(outcome.error, NotConfiguredError)
    assert said in messages(outcome)[0]


def test_a_wait_survives_a_503_and_an_expired_token(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.set_entity("p1", "e1", isSyncActive=True)
    fakehub.add_fault("status", path="/entities-status$", status=503)
    fakehub.add_fault("expire-token", path="/entities-status$")
    outcome = execute(corehub(), task("entity_wait"), FAST_EXECUTE)
    assert outcome.ok, messages(outcome)
    assert [e["reason"] for e in recorder.steps("login")] == ["new session", "token refused (401)"]


def test_an_unusable_status_answer_stops_the_wait(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("answer", path="/entities-status$", count=None)
    outcome = execute(corehub(), task("entity_wait", entityIds=["e1", "e2"]), FAST_EXECUTE)
    assert isinstance(outcome.error, UnusableAnswerError)
    assert messages(outcome)[1].startswith("not attempted: ")


def test_the_runs_deadline_ends_a_wait(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    wait = {"state": "Active", "timeoutSeconds": 60}
    outcome = execute(
        corehub(deadline=Deadline(0.8)), task("group_wait", waitFor=wait), FAST_EXECUTE
    )
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert outcome.error.deadline_exceeded
    assert "deadline passed" in messages(outcome)[0]


def test_unreachable_during_a_wait(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/entities-status$", status=503, count=None)
    outcome = execute(corehub(), task("entity_wait"), FAST_EXECUTE)
    assert isinstance(outcome.error, CoreHubUnreachableError)


# ------------------------------------------------------------------ the runner


def test_runner_maintenance_enter_succeeds(fakehub: FakeHubControl, run_runner: RunRunner) -> None:
    body = {"type": "pipeline_maintenance_enter", "pipelineId": "p1"}
    result = run_runner(runner_env(fakehub.url, body))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.termination is not None
    assert result.termination["entities"] == [
        {
            "id": "p1",
            "result": "succeeded",
            "state": "Maintenance",
            "message": "maintenance enter done",
        }
    ]
    assert in_maintenance(fakehub)


def test_runner_wait_timeout_is_reason_timeout(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    body = {
        "type": "entity_wait",
        "pipelineId": "p1",
        "entityIds": ["e1"],
        "waitFor": {"state": "Active", "timeoutSeconds": 1},
    }
    result = run_runner(runner_env(fakehub.url, body))
    assert result.returncode == 5, result.stdout + result.stderr
    assert result.termination is not None
    assert result.termination["reason"] == "Timeout"
    assert "e1 not Active within the wait's 1s (now e1: Hold)" in result.termination["message"]
    assert fakehub.commands() == []


def test_runner_wait_for_an_unknown_entity_is_rejected(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    body = {
        "type": "entity_wait",
        "pipelineId": "p1",
        "entityIds": ["ghost"],
        "waitFor": {"state": "Hold", "timeoutSeconds": 30},
    }
    env = runner_env(fakehub.url, body, **{contract.ENV_TIMEOUT_SECONDS: "60"})
    result = run_runner(env)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.termination is not None
    assert result.termination["reason"] == "TaskRejected"
