"""A run succeeds only on CoreHub's evidence: the client and ``execute`` against the fake
CoreHub when a migration never starts or CoreHub answers something unusable.

Each case ends with its own outcome quickly: FAST_EXECUTE gives a migration 1 s to
start, and every run here has a 20 s deadline it must end well before.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fixtures_corehub import FAST_EXECUTE, MakeClient

from chronos.corehub import (
    CoreHubTimeoutError,
    Deadline,
    TaskOutcome,
    UnusableAnswerError,
    execute,
)
from chronos.fakehub import FakeHubControl
from chronos.models.chronosjob import Task

P = "/pipelines/p1"
DEADLINE = 20.0
#: Well before the deadline: the start limit (1 s) or a single read, plus slack.
QUICK = 6.0


def task(type_: str, **extra: Any) -> Task:
    body: dict[str, Any] = {"type": type_, "pipelineId": "p1", **extra}
    if type_.startswith("entity_"):
        body.setdefault("entityIds", ["e1"])
    if type_.startswith("group_"):
        body.setdefault("groupIds", ["g1"])
    return Task.model_validate(body)


def run(corehub: MakeClient, t: Task) -> tuple[TaskOutcome, float]:
    started = time.monotonic()
    outcome = execute(corehub(deadline=Deadline(DEADLINE)), t, FAST_EXECUTE)
    return outcome, time.monotonic() - started


def commands(fakehub: FakeHubControl) -> list[str]:
    return [c["path"].rsplit("/", 1)[-1] for c in fakehub.commands()]


# ------------------------------------------------------------ migration never started


@pytest.mark.parametrize("type_", ["entity_snapshot", "entity_redo", "group_snapshot"])
def test_migration_that_never_starts_is_not_success(
    type_: str, fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # CoreHub accepts the command and does nothing: the entity stays as it was.
    fakehub.set_entity("p1", "e1", isSyncActive=type_ == "entity_redo")
    fakehub.add_fault("stuck", path="(one-time-snapshot|redo)", count=None)
    outcome, took = run(corehub, task(type_))
    assert not outcome.ok
    error = outcome.error
    assert isinstance(error, CoreHubTimeoutError)
    assert not error.deadline_exceeded
    assert str(error).startswith("migration never started: CoreHub accepted ")
    assert "showed no sign of it within 1s (" in str(error)
    assert took < QUICK


def test_busy_entity_whose_migration_never_starts(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # The outside tester's case: busy, migration not active, and it stays so. It used
    # to be "one-time-snapshot done" after the 10 s grace.
    fakehub.set_entity("p1", "e1", isBusy=True)
    fakehub.add_fault("stuck", path="one-time-snapshot$")
    outcome, took = run(corehub, task("entity_snapshot"))
    assert commands(fakehub) == ["stop", "one-time-snapshot"]
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert "migration never started" in str(outcome.error)
    assert "e1: CoreHub busy with it, no migration" in str(outcome.error)
    assert outcome.results[0].ok is False
    assert took < QUICK


def test_never_started_fails_that_entity_and_the_run_goes_on(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    fakehub.add_fault("stuck", path="one-time-snapshot$", count=1)
    outcome, _ = run(corehub, task("entity_snapshot", entityIds=["e1", "e2"]))
    assert [(r.id, r.ok) for r in outcome.results] == [("e1", False), ("e2", True)]
    assert "migration never started" in outcome.results[0].message
    assert outcome.results[1].message == "one-time-snapshot done"


def test_migration_already_running_is_not_evidence(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # A migration under way before the command ends; no new one starts.
    fakehub.configure(delays={"snapshot": 0.5})
    fakehub.set_entity("p1", "e3", isMigrationActive=True)
    fakehub.set_entity("p1", "e4", isMigrationActive=True)
    fakehub.add_fault("stuck", path="one-time-snapshot-group$")
    outcome, took = run(corehub, task("group_snapshot"))
    assert isinstance(outcome.error, CoreHubTimeoutError)
    assert "a migration was already running before the command" in str(outcome.error)
    assert took < QUICK


def test_snapshot_that_runs_succeeds(fakehub: FakeHubControl, corehub: MakeClient) -> None:
    # The counterpart: the same judgement accepts what CoreHub shows of a real migration,
    # including one so short that only "busy, then idle" was seen.
    for snapshot in (0.3, 0.0):
        fakehub.reset()
        fakehub.configure(delays={"activate": 0.05, "snapshot": snapshot})
        outcome, _ = run(corehub, task("entity_snapshot"))
        assert outcome.ok, outcome.results
        assert commands(fakehub) == ["stop", "one-time-snapshot"]


# ------------------------------------------------------------ unusable answers

HTML = {"kind": "answer"}  # the fake's default: an HTML login page with 200


@pytest.mark.parametrize("type_", ["group_start", "group_snapshot", "pipeline_stop"])
@pytest.mark.parametrize(
    "fault",
    [HTML, {"kind": "answer", "json": [None]}, {"kind": "answer", "json": {"message": "ok"}}],
)
def test_unusable_entity_list_sends_no_command(
    type_: str, fault: dict[str, Any], fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # It used to be "group has no entities", success, after CoreHub accepted the command.
    fakehub.add_fault(path=f"^{P}/entities$", count=None, **fault)
    groups = {"groupIds": ["g1", "_default"]} if type_.startswith("group_") else {}
    outcome, took = run(corehub, task(type_, **groups))
    assert isinstance(outcome.error, UnusableAnswerError)
    assert str(outcome.error).startswith(
        f"CoreHub answered something that is not a list of entities to GET {P}/entities: "
    )
    assert commands(fakehub) == []
    # Fatal: the next group is not attempted.
    assert [r.ok for r in outcome.results] == [False] * len(outcome.results)
    assert all(r.message.startswith("not attempted") for r in outcome.results[1:])
    assert took < QUICK


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        (HTML, "HTTP 200 (text/html; charset=utf-8) <!DOCTYPE html>"),
        ({"kind": "answer", "text": "", "contentType": "text/plain"}, "(empty)"),
        ({"kind": "answer", "json": [None]}, "[null] (0: Input should be a valid dictionary"),
        ({"kind": "answer", "json": {"message": "maintenance"}}, '{"message": "maintenance"}'),
        ({"kind": "answer", "json": [{"entityId": "e1"}]}, "0.isSyncActive: Field required"),
        ({"kind": "status", "status": 200, "message": "not now"}, '{"message": "not now"}'),
    ],
)
@pytest.mark.parametrize("type_", ["entity_start", "entity_snapshot", "group_stop"])
def test_unusable_entity_status_fails_fast(
    type_: str,
    fault: dict[str, Any],
    detail: str,
    fakehub: FakeHubControl,
    corehub: MakeClient,
) -> None:
    # It used to poll until the deadline and blame the entity (HTML), or end as an
    # InternalError from a TypeError ([null], {"message": ...}).
    fakehub.add_fault(path="/entities-status$", count=None, **fault)
    outcome, took = run(corehub, task(type_))
    assert isinstance(outcome.error, UnusableAnswerError)
    message = str(outcome.error)
    assert message.startswith(
        f"CoreHub answered something that is not entity status to GET {P}/entities-status: "
    )
    assert detail in message
    assert took < QUICK
    # One command at most: the run stops at the first unusable read.
    assert len(fakehub.commands()) <= 1


def test_one_unusable_answer_stops_the_run_even_if_the_next_would_do(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # Not retried: an answer that is not CoreHub's cannot be told from one that is.
    fakehub.add_fault("answer", path="/entities-status$", count=1)
    outcome, _ = run(corehub, task("entity_start", entityIds=["e1", "e2"]))
    assert isinstance(outcome.error, UnusableAnswerError)
    assert [r.message.startswith("not attempted") for r in outcome.results] == [False, True]


def test_command_answered_with_html_is_judged_by_the_state(
    fakehub: FakeHubControl, corehub: MakeClient
) -> None:
    # A command's body is optional: CoreHub applied it, the state shows it.
    fakehub.add_fault("answer", path="/commands/", after=True)
    outcome, _ = run(corehub, task("entity_start"))
    assert outcome.ok
