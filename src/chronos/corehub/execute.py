"""Run a Task against CoreHub: each step's commands, each followed by a wait for its state.

A rejected command, an entity in Error or a per-state timeout fails that target only and
the run goes on with the next; an authentication failure, an unreachable CoreHub or the
run's deadline stops the run, and the targets not yet tried are reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from chronos.corehub.api import (
    Applied,
    Command,
    Step,
    Verdict,
    affected_entities,
    entity_state,
    error_message,
    judge,
    lost_answer_all,
    plan,
    settle,
)
from chronos.corehub.client import CoreHubClient
from chronos.corehub.errors import (
    AuthenticationError,
    CoreHubError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    EntityErrorStateError,
)
from chronos.models.chronosjob import Task

FATAL = (AuthenticationError, CoreHubUnreachableError)


@dataclass(frozen=True)
class ExecuteOptions:
    #: The original Chronos paused 2 s between per-entity commands.
    command_interval: float = 2.0
    poll_initial: float = 0.5
    poll_max: float = 5.0
    poll_factor: float = 1.5
    #: Longest wait for one command's state; None: until the run's deadline.
    state_timeout: float | None = None
    #: After a snapshot command, how long "migration not active" may mean "not started
    #: yet" rather than "finished" (unless the migration was seen running).
    snapshot_start_grace: float = 10.0
    #: After a command's answer was lost, how long CoreHub's state is read before "it
    #: did not act" (or "cannot tell") is believed: a just-accepted command may not show.
    lost_answer_settle: float = 2.0
    #: ... and how long an entity may keep changing before the outcome counts as unknown.
    lost_answer_window: float = 60.0


@dataclass
class TargetResult:
    id: str
    ok: bool
    state: str | None = None
    message: str = ""
    error: CoreHubError | None = None


@dataclass
class TaskOutcome:
    results: list[TargetResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def error(self) -> CoreHubError | None:
        """The first failure, which decides the run's reason and exit code."""
        return next((r.error for r in self.results if r.error is not None), None)


def _summary(states: dict[str, str | None]) -> str | None:
    values = set(states.values())
    if len(values) == 1:
        return values.pop()
    return "mixed" if values else None


class _Runner:
    def __init__(self, client: CoreHubClient, task: Task, options: ExecuteOptions) -> None:
        self.client = client
        self.task = task
        self.options = options
        self._configured: list[dict[str, Any]] | None = None

    def configured(self) -> list[dict[str, Any]]:
        if self._configured is None:
            self._configured = self.client.entities(self.task.pipeline_id)
        return self._configured

    def wait(self, command: Command, entity_ids: list[str]) -> dict[str, str | None]:
        """Poll ``/entities-status`` with backoff until every entity meets the expectation."""
        clock = self.client.deadline
        limit = self.options.state_timeout
        started = clock.remaining()
        # The first read is immediate: a command that needs no change (stop an entity
        # already on Hold) or that CoreHub applies at once is then done without a sleep.
        delay = 0.0
        pending = set(entity_ids)
        seen: set[str] = set()
        states: dict[str, str | None] = dict.fromkeys(entity_ids)
        self.client.events(
            "wait", {"expect": str(command.expect), "entities": entity_ids, "phase": "begin"}
        )
        while pending:
            self.client.sleep(min(delay, clock.remaining()))
            delay = min(
                self.options.poll_max,
                max(delay * self.options.poll_factor, self.options.poll_initial),
            )
            elapsed = started - clock.remaining()
            if clock.expired():
                raise CoreHubTimeoutError(
                    f"the run's {clock.seconds:g}s deadline passed waiting for "
                    f"{', '.join(sorted(pending))} to be {command.expect} after {command.action}"
                )
            statuses = self.client.entities_status(self.task.pipeline_id)
            for e in sorted(pending):
                status = statuses.get(e)
                if status is None:
                    continue
                states[e] = str(entity_state(status))
                if status.get("isMigrationActive"):
                    seen.add(e)
                grace_over = elapsed >= self.options.snapshot_start_grace
                verdict = judge(command.expect, status, snapshot_seen=e in seen or grace_over)
                if verdict is Verdict.FAILED:
                    raise EntityErrorStateError(f"entity {e} is in Error: {error_message(status)}")
                if verdict is Verdict.REACHED:
                    pending.discard(e)
            if pending and limit is not None and elapsed >= limit:
                raise CoreHubTimeoutError(
                    f"{', '.join(sorted(pending))} not {command.expect} "
                    f"{limit:g}s after {command.action}",
                    deadline_exceeded=False,
                )
        self.client.events(
            "wait", {"expect": str(command.expect), "states": states, "phase": "done"}
        )
        return states

    def verify(self, command: Command, entity_ids: list[str]) -> Applied:
        """After a lost answer: poll ``/entities-status`` until it tells if ``command`` acted."""
        clock = self.client.deadline
        started = clock.remaining()
        delay = self.options.poll_initial
        while True:
            statuses = self.client.entities_status(self.task.pipeline_id)
            applied = lost_answer_all(command, [statuses.get(e) for e in entity_ids])
            final = settle(
                applied,
                started - clock.remaining(),
                settle_for=self.options.lost_answer_settle,
                give_up_after=self.options.lost_answer_window,
            )
            if final is not None:
                return final
            if clock.expired():
                raise CoreHubTimeoutError(
                    f"the run's {clock.seconds:g}s deadline passed reading whether "
                    f"{command.action} acted after its answer was lost"
                )
            self.client.sleep(min(delay, clock.remaining()))
            delay = min(self.options.poll_max, delay * self.options.poll_factor)

    def step(self, step: Step) -> list[TargetResult]:
        entity_ids = (
            [step.target] if step.scope == "entity" else affected_entities(step, self.configured())
        )
        states: dict[str, str | None] = dict.fromkeys(entity_ids)
        for command in step.commands:
            self.client.send(command, verify=partial(self.verify, command, entity_ids))
            states = self.wait(command, entity_ids)
        done = f"{step.commands[-1].action} done"
        if step.scope == "pipeline":
            if not entity_ids:
                return [TargetResult(step.target, True, None, f"{done}; pipeline has no entities")]
            return [TargetResult(e, True, s, done) for e, s in states.items()]
        if step.scope == "group" and not entity_ids:
            return [TargetResult(step.target, True, None, f"{done}; group has no entities")]
        return [TargetResult(step.target, True, _summary(states), done)]


def execute(
    client: CoreHubClient, task: Task, options: ExecuteOptions | None = None
) -> TaskOutcome:
    """Run every step of ``task`` in order; never raises a CoreHubError."""
    runner = _Runner(client, task, options or ExecuteOptions())
    outcome = TaskOutcome()
    steps = plan(task)
    for index, step in enumerate(steps):
        if index:
            client.sleep(min(runner.options.command_interval, client.deadline.remaining()))
        try:
            outcome.results.extend(runner.step(step))
        except CoreHubError as exc:
            outcome.results.append(TargetResult(step.target, False, None, str(exc), exc))
            fatal = isinstance(exc, FATAL) or (
                isinstance(exc, CoreHubTimeoutError) and exc.deadline_exceeded
            )
            if fatal:
                for rest in steps[index + 1 :]:
                    outcome.results.append(
                        TargetResult(rest.target, False, None, f"not attempted: {exc}")
                    )
                break
    return outcome
