"""The re-send rule against the fake CoreHub, counting the commands it received.

A login or read may repeat; a command is re-sent only when CoreHub cannot have acted on
it (not sent, 429, 503) or, when its answer was lost, after CoreHub's state showed that
it did not act. Faults "after" (``after=True``) act once the fake applied the command.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fixtures_corehub import FAST_EXECUTE, FAST_RETRY, MakeClient, Recorder, RunRunner, runner_env

from chronos.corehub import (
    ClientOptions,
    CoreHubUnreachableError,
    TaskRejectedError,
    execute,
)
from chronos.fakehub import FakeHubControl
from chronos.models.chronosjob import Task

P = "/pipelines/p1/commands/sync"
START_E1: dict[str, Any] = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}


def task(type_: str, **extra: Any) -> Task:
    body: dict[str, Any] = {"type": type_, "pipelineId": "p1", **extra}
    if type_.startswith("entity_"):
        body.setdefault("entityIds", ["e1"])
    if type_.startswith("group_"):
        body.setdefault("groupIds", ["g1"])
    return Task.model_validate(body)


def received(fakehub: FakeHubControl, action: str) -> list[tuple[int | None, bool]]:
    """(status answered, applied) of each ``action`` command the fake received."""
    return [
        (c["status"], c["applied"])
        for c in fakehub.commands()
        if c["path"].rsplit("/", 1)[-1] == action
    ]


def resent(recorder: Recorder) -> list[str]:
    return [r["cause"] for r in recorder.steps("retry")]


# ------------------------------------------------------------- (a) applied, answer lost


def test_start_applied_then_dropped_is_sent_once(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("drop", path="/commands/", after=True)
    outcome = execute(corehub(), task("entity_start"), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert received(fakehub, "start") == [(None, True)]
    assert outcome.results[0].state == "Active"
    assert resent(recorder) == []
    assert [v["applied"] for v in recorder.steps("verify")] == ["took-effect"]
    # It read the state (a read, with the normal retries) before deciding.
    paths = [r["path"] for r in fakehub.requests()]
    assert paths[paths.index(f"{P}/start") + 1].endswith("/entities-status")


@pytest.mark.parametrize(
    ("type_", "action", "setup"),
    [
        ("entity_stop", "stop", {"isSyncActive": True}),
        ("entity_redo", "redo", {}),
        ("entity_snapshot", "one-time-snapshot", {}),
        ("group_start", "start-group", {}),
        ("pipeline_redo", "redo", {}),
    ],
)
def test_every_command_applied_then_dropped_is_sent_once(
    type_: str,
    action: str,
    setup: dict[str, Any],
    fakehub: FakeHubControl,
    corehub: MakeClient,
    recorder: Recorder,
) -> None:
    if setup:
        fakehub.set_entity("p1", "e1", **setup)
    fakehub.add_fault("drop", path=f"/{action}$", after=True)
    outcome = execute(corehub(), task(type_), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert received(fakehub, action) == [(None, True)]
    assert resent(recorder) == []


def test_read_timeout_after_apply_is_sent_once(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    # The migration (1.5 s) outlasts the late answer (1 s), so verifying sees it run.
    fakehub.configure(delays={"snapshot": 1.5})
    fakehub.add_fault("latency", path="/commands/", seconds=1.0, after=True)
    options = ClientOptions(connect_timeout=1.0, read_timeout=0.3, retry=FAST_RETRY)
    outcome = execute(corehub(options=options), task("entity_redo"), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    # The fake logs the command once its late answer is written: wait for that.
    deadline = time.monotonic() + 5.0
    while not fakehub.commands() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received(fakehub, "redo") == [(202, True)]
    assert resent(recorder) == []


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_error_after_apply_is_sent_once(
    status: int, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("status", path="/commands/", status=status, after=True)
    outcome = execute(corehub(), task("entity_redo"), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert received(fakehub, "redo") == [(status, True)]


def test_runner_start_applied_then_dropped_sends_one_command(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    fakehub.add_fault("drop", path="/commands/", after=True)
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert received(fakehub, "start") == [(None, True)]
    assert "retry" not in [line["step"] for line in result.lines]


# --------------------------------------------------------- (b) not applied, answer lost


def test_start_dropped_before_apply_is_sent_twice(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("drop", path="/commands/")
    outcome = execute(corehub(), task("entity_start"), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert received(fakehub, "start") == [(None, False), (200, True)]
    assert len(resent(recorder)) == 1
    assert "did not act" in resent(recorder)[0]


def test_redo_dropped_before_apply_is_sent_twice(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="/redo$")
    outcome = execute(corehub(), task("entity_redo"), FAST_EXECUTE)
    assert outcome.ok, [r.message for r in outcome.results]
    assert received(fakehub, "redo") == [(None, False), (202, True)]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_error_before_apply_is_verified_then_resent(
    status: int, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("status", path="/commands/", status=status)
    outcome = execute(corehub(), task("entity_stop"), FAST_EXECUTE)
    assert outcome.ok
    # e1 was on Hold already: the stop's effect holds, nothing is re-sent.
    assert received(fakehub, "stop") == [(status, False)]
    fakehub.reset()
    fakehub.add_fault("status", path="/commands/", status=status)
    assert execute(corehub(), task("entity_start"), FAST_EXECUTE).ok
    assert received(fakehub, "start") == [(status, False), (200, True)]


def test_resends_count_against_the_retry_budget(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="/commands/", count=None)
    outcome = execute(corehub(), task("entity_start"), FAST_EXECUTE)
    assert isinstance(outcome.error, CoreHubUnreachableError)
    assert "gave up after 4 attempts" in str(outcome.error)
    assert len(received(fakehub, "start")) == FAST_RETRY.max_attempts


def test_snapshot_whose_outcome_cannot_be_told_is_not_resent(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("drop", path="/one-time-snapshot$")
    outcome = execute(corehub(), task("entity_snapshot"), FAST_EXECUTE)
    assert isinstance(outcome.error, CoreHubUnreachableError)
    assert "outcome unknown" in str(outcome.error)
    assert received(fakehub, "one-time-snapshot") == [(None, False)]


def test_maintenance_applied_then_dropped_is_sent_once(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    client = corehub()
    fakehub.add_fault("drop", path="/maintenance/enter$", after=True)
    client.maintenance("p1", enter=True)
    assert client.pipeline("p1")["isInMaintenanceMode"] is True
    fakehub.add_fault("drop", path="/maintenance/exit$")
    client.maintenance("p1", enter=False)
    assert client.pipeline("p1")["isInMaintenanceMode"] is False
    assert [(c["path"].rsplit("/", 1)[-1], c["applied"]) for c in fakehub.commands()] == [
        ("enter", True),
        ("exit", False),
        ("exit", True),
    ]


def test_runner_start_dropped_before_apply_sends_two_commands(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    fakehub.add_fault("drop", path="/commands/")
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert received(fakehub, "start") == [(None, False), (200, True)]
    assert [line["step"] for line in result.lines].count("retry") == 1


# ------------------------------------------------------ (c) CoreHub cannot have acted


def test_503_is_resent(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/commands/", status=503, count=2)
    assert execute(corehub(), task("entity_redo"), FAST_EXECUTE).ok
    assert received(fakehub, "redo") == [(503, False), (503, False), (202, True)]
    # No state was read to decide: CoreHub cannot have acted on a 503. (The one read
    # before the redo is what the wait compares with.)
    paths = [r["path"] for r in fakehub.requests()]
    assert paths[1:5] == ["/pipelines/p1/entities-status"] + [f"{P}/redo"] * 3


def test_429_with_retry_after_is_resent(
    fakehub: FakeHubControl, corehub: MakeClient, recorder: Recorder
) -> None:
    fakehub.add_fault("status", path="/commands/", status=429, retryAfter="1")
    assert execute(corehub(), task("entity_snapshot"), FAST_EXECUTE).ok
    assert received(fakehub, "stop") == [(429, False), (200, True)]
    assert received(fakehub, "one-time-snapshot") == [(202, True)]
    assert recorder.sleeps[0] == 1.0


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        ({"status": 503, "count": 2}, [503, 503, 200]),
        ({"status": 429, "retryAfter": "1"}, [429, 200]),
    ],
)
def test_runner_resends_on_503_and_429(
    fault: dict[str, Any], statuses: list[int], fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    fakehub.add_fault("status", path="/commands/", **fault)
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [s for s, _ in received(fakehub, "start")] == statuses


# ---------------------------------------------------------------- (d) 500: not re-sent


def test_500_is_not_resent(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    fakehub.add_fault("status", path="/commands/", status=500)
    outcome = execute(corehub(), task("entity_start"), FAST_EXECUTE)
    assert isinstance(outcome.error, TaskRejectedError)
    assert received(fakehub, "start") == [(500, False)]


def test_runner_500_is_rejected_and_not_resent(
    fakehub: FakeHubControl, run_runner: RunRunner
) -> None:
    fakehub.add_fault("status", path="/commands/", status=500, message="boom")
    result = run_runner(runner_env(fakehub.url, START_E1))
    assert result.returncode == 4
    assert result.termination is not None
    assert result.termination["reason"] == "TaskRejected"
    assert received(fakehub, "start") == [(500, False)]
