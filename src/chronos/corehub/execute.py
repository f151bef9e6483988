"""Run a Task against CoreHub: each step's commands, each followed by a wait for its state.

A rejected command, an entity in Error, a per-state timeout or a migration that never
started fails that target only and the run goes on with the next; an authentication
failure, an unreachable CoreHub, an unusable answer or the run's deadline stops the run,
and the targets not yet tried are reported as such. A target succeeds only on CoreHub's
state (``judge``), never for want of a sign that it did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

from chronos.corehub.answers import EntityConfig, EntityStatus, Mask, quote
from chronos.corehub.api import (
    Applied,
    Command,
    Seen,
    Step,
    Verdict,
    affected_entities,
    entity_state,
    error_message,
    judge,
    lost_answer_all,
    maintenance_applied,
    maintenance_flag,
    plan,
    settle,
    wait_verdict,
)
from chronos.corehub.client import CoreHubClient
from chronos.corehub.errors import (
    AuthenticationError,
    CoreHubError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    EntityErrorStateError,
    NotConfiguredError,
    UnsafeIdError,
    UnusableAnswerError,
)
from chronos.models.chronosjob import Task
from chronos.models.tasks import WaitFor

T = TypeVar("T")

#: Default of ``ExecuteOptions.migration_start_timeout`` (and of the runner's setting): a
#: snapshot may wait for CoreHub's agents a while; five minutes of no sign at all is not that.
MIGRATION_START_TIMEOUT = 300.0

#: Failures after which nothing CoreHub says can be acted on or believed.
FATAL = (AuthenticationError, CoreHubUnreachableError, UnusableAnswerError, UnsafeIdError)


@dataclass(frozen=True)
class ExecuteOptions:
    #: The original Chronos paused 2 s between per-entity commands.
    command_interval: float = 2.0
    poll_initial: float = 0.5
    poll_max: float = 5.0
    poll_factor: float = 1.5
    #: Longest wait for one command's state; None: until the run's deadline.
    state_timeout: float | None = None
    #: How long a snapshot or redo may show no sign that its migration started (``judge``:
    #: NOT_STARTED) before it fails as "migration never started"; None: until the deadline.
    migration_start_timeout: float | None = MIGRATION_START_TIMEOUT
    #: Before a snapshot or redo, how long to wait for CoreHub to stop being busy with an
    #: entity (the stop just sent, typically): taking it up for the command then shows,
    #: which is all a migration shorter than a poll interval shows (see ``Seen``).
    quiet_wait: float = 3.0
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


def _not_started(status: EntityStatus | None, seen: Seen) -> str:
    """Why an entity whose verdict is NOT_STARTED shows no sign of its migration."""
    if status is None:
        return "not listed in the entity status"
    if not seen.quiet:
        return "a migration was already running before the command; no new one was seen"
    return "CoreHub busy with it, no migration" if status.is_busy else "idle, no migration"


class _Runner:
    def __init__(self, client: CoreHubClient, task: Task, options: ExecuteOptions) -> None:
        self.client = client
        self.task = task
        self.options = options
        self._configured: list[EntityConfig] | None = None
        #: ``deadline.remaining()`` when a wait task began waiting: its timeoutSeconds
        #: is one budget for all its entities or groups, not one each.
        self._wait_began: float | None = None

    def configured(self) -> list[EntityConfig]:
        if self._configured is None:
            self._configured = self.client.entities(self.task.pipeline)
        return self._configured

    def read(self, seen: dict[str, Seen]) -> dict[str, EntityStatus]:
        """``/entities-status``, each affected entity's read added to what was ``seen``."""
        statuses = self.client.entities_status(self.task.pipeline)
        for e, before in seen.items():
            seen[e] = before.then(statuses.get(e))
        return statuses

    def before(self, entity_ids: list[str]) -> dict[str, Seen]:
        """The read a snapshot or redo is judged against, once no entity is busy (or
        ``quiet_wait`` has passed): only what begins after it is a sign of the command."""
        clock = self.client.deadline
        started = clock.remaining()
        delay = self.options.poll_initial
        while True:
            statuses = self.client.entities_status(self.task.pipeline)
            seen = {e: Seen().then(statuses.get(e)) for e in entity_ids}
            busy = any(s.is_busy for e in entity_ids if (s := statuses.get(e)) is not None)
            waited = started - clock.remaining()
            if not busy or waited >= self.options.quiet_wait:
                return seen
            self.client.sleep(min(delay, self.options.quiet_wait - waited, clock.remaining()))
            delay = min(self.options.poll_max, delay * self.options.poll_factor)

    def wait(self, command: Command, seen: dict[str, Seen]) -> dict[str, str | None]:
        """Poll ``/entities-status`` with backoff until every entity meets the expectation."""
        clock = self.client.deadline
        limit = self.options.state_timeout
        start_limit = self.options.migration_start_timeout
        started = clock.remaining()
        # The first read is immediate: a command that needs no change (stop an entity
        # already on Hold) or that CoreHub applies at once is then done without a sleep.
        delay = 0.0
        entity_ids = list(seen)
        pending = set(entity_ids)
        states: dict[str, str | None] = dict.fromkeys(entity_ids)
        never: dict[str, str] = {}  # NOT_STARTED entities: why
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
                when = f"the run's {clock.seconds:g}s deadline passed"
                plain = f"{when} waiting for {', '.join(sorted(pending))} to be {command.expect}"
                raise CoreHubTimeoutError(self._late(command, never, f"before {when}", plain))
            statuses = self.read(seen)
            never.clear()
            for e in sorted(pending):
                status = statuses.get(e)
                if status is not None:
                    states[e] = str(entity_state(status))
                verdict = judge(command.expect, status, seen[e])
                if verdict is Verdict.FAILED and status is not None:
                    said = quote(error_message(status), self.client.mask)
                    raise EntityErrorStateError(f"entity {e} is in Error: {said}")
                if verdict is Verdict.REACHED:
                    pending.discard(e)
                if verdict is Verdict.NOT_STARTED:
                    never[e] = _not_started(status, seen[e])
            if never and start_limit is not None and elapsed >= start_limit:
                raise CoreHubTimeoutError(
                    self._late(command, never, f"within {start_limit:g}s", ""),
                    deadline_exceeded=False,
                )
            if pending and limit is not None and elapsed >= limit:
                plain = f"{', '.join(sorted(pending))} not {command.expect} {limit:g}s"
                raise CoreHubTimeoutError(
                    self._late(command, never, f"within {limit:g}s", plain),
                    deadline_exceeded=False,
                )
        self.client.events(
            "wait", {"expect": str(command.expect), "states": states, "phase": "done"}
        )
        return states

    @staticmethod
    def _late(command: Command, never: dict[str, str], within: str, plain: str) -> str:
        """Why a wait gave up: "migration never started" for NOT_STARTED entities."""
        if not never:
            return f"{plain} after {command.action}"
        why = "; ".join(f"{e}: {never[e]}" for e in sorted(never))
        return (
            f"migration never started: CoreHub accepted {command.action}, but "
            f"{', '.join(sorted(never))} showed no sign of it {within} ({why})"
        )

    def verify(self, command: Command, seen: dict[str, Seen]) -> Applied:
        """After a lost answer: poll ``/entities-status`` until it tells if ``command`` acted."""
        clock = self.client.deadline
        started = clock.remaining()
        delay = self.options.poll_initial
        while True:
            statuses = self.read(seen)
            applied = lost_answer_all(command, [statuses.get(e) for e in seen])
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

    def poll(self, check: Callable[[], T | None], limit: float | None, what: str) -> T:
        """``check()`` until it gives an answer, with backoff; the first read is at once.

        Past ``limit`` seconds (after at least one read) a CoreHubTimeoutError that fails
        this target only; past the run's deadline one that stops the run.
        """
        clock = self.client.deadline
        started = clock.remaining()
        delay = 0.0
        while True:
            self.client.sleep(min(delay, clock.remaining()))
            delay = min(
                self.options.poll_max,
                max(delay * self.options.poll_factor, self.options.poll_initial),
            )
            if clock.expired():
                raise CoreHubTimeoutError(
                    f"the run's {clock.seconds:g}s deadline passed waiting for {what}"
                )
            answer = check()
            if answer is not None:
                return answer
            if limit is not None and started - clock.remaining() >= limit:
                raise CoreHubTimeoutError(
                    f"{what}: not reached within {limit:g}s", deadline_exceeded=False
                )

    def maintenance(self, step: Step, command: Command) -> list[TargetResult]:
        """Enter or leave maintenance mode: the command, then ``GET /pipelines/{p}`` until
        ``isInMaintenanceMode`` says so."""
        enter = command.expect.maintenance is True
        pipeline_id = self.task.pipeline
        self.client.send(
            command, verify=lambda: maintenance_applied(self.client.pipeline(pipeline_id), enter)
        )
        wanted = "in maintenance mode" if enter else "out of maintenance mode"

        def check() -> bool | None:
            flag = maintenance_flag(self.client.pipeline(pipeline_id))
            return True if flag is enter else None

        self.poll(check, self.options.state_timeout, f"pipeline {pipeline_id} {wanted}")
        state = "Maintenance" if enter else "Running"
        return [TargetResult(step.target, True, state, f"maintenance {command.action} done")]

    def wait_for(self, step: Step, wait: WaitFor) -> list[TargetResult]:
        """A wait task's step: no command; ``/entities-status`` until every entity of the
        step is in ``wait.state`` at one read, within the task's one wait budget."""
        configured = self.configured()
        known = {e.entity_id for e in configured}
        if step.scope == "entity":
            if step.target not in known:
                raise NotConfiguredError(
                    f"entity {step.target} is not configured in pipeline {self.task.pipeline_id}"
                )
            entity_ids = [step.target]
        else:
            entity_ids = affected_entities(step, configured)
            if not entity_ids:
                raise NotConfiguredError(
                    f"no entity of group {step.target} is configured in pipeline "
                    f"{self.task.pipeline_id}: nothing to wait for"
                )
        clock = self.client.deadline
        if self._wait_began is None:
            self._wait_began = clock.remaining()
        limit = max(0.0, wait.timeout_seconds - (self._wait_began - clock.remaining()))
        states: dict[str, str | None] = dict.fromkeys(entity_ids)
        self.client.events(
            "wait", {"expect": str(wait.state), "entities": entity_ids, "phase": "begin"}
        )

        def check() -> bool | None:
            statuses = self.client.entities_status(self.task.pipeline)
            reached = True
            for e in entity_ids:
                status = statuses.get(e)
                states[e] = None if status is None else str(entity_state(status))
                verdict = wait_verdict(wait.state, status)
                if verdict is Verdict.FAILED and status is not None:
                    said = quote(error_message(status), self.client.mask)
                    raise EntityErrorStateError(f"entity {e} is in Error: {said}")
                reached = reached and verdict is Verdict.REACHED
            return True if reached else None

        try:
            self.poll(check, limit, f"{', '.join(entity_ids)} to be {wait.state}")
        except CoreHubTimeoutError as exc:
            if exc.deadline_exceeded:
                raise
            now = ", ".join(f"{e}: {s or 'not listed'}" for e, s in states.items())
            raise CoreHubTimeoutError(
                f"{', '.join(entity_ids)} not {wait.state} within the wait's "
                f"{wait.timeout_seconds}s (now {now})",
                deadline_exceeded=False,
            ) from None
        self.client.events("wait", {"expect": str(wait.state), "states": states, "phase": "done"})
        return [TargetResult(step.target, True, _summary(states), f"{wait.state} reached")]

    def step(self, step: Step) -> list[TargetResult]:
        if step.wait is not None:
            return self.wait_for(step, step.wait)
        if len(step.commands) == 1 and step.commands[0].expect.maintenance is not None:
            return self.maintenance(step, step.commands[0])
        # Read before any command: an unusable entity list stops the step before CoreHub
        # is asked to act on entities that would then not be waited for.
        entity_ids = (
            [step.target] if step.scope == "entity" else affected_entities(step, self.configured())
        )
        states: dict[str, str | None] = dict.fromkeys(entity_ids)
        for command in step.commands:
            seen = dict.fromkeys(entity_ids, Seen())
            if command.expect.needs_migration and entity_ids:
                seen = self.before(entity_ids)
            self.client.send(command, verify=partial(self.verify, command, seen))
            states = self.wait(command, seen)
        done = f"{step.commands[-1].action} done"
        if step.scope == "pipeline":
            if not entity_ids:
                return [TargetResult(step.target, True, None, f"{done}; pipeline has no entities")]
            return [TargetResult(e, True, s, done) for e, s in states.items()]
        if step.scope == "group" and not entity_ids:
            return [TargetResult(step.target, True, None, f"{done}; group has no entities")]
        return [TargetResult(step.target, True, _summary(states), done)]


def _masked(result: TargetResult, mask: Mask) -> TargetResult:
    """A result as it may be shown: its id (a pipeline's entities come from CoreHub's
    answer), state and message (CoreHub's words in them) masked."""
    return replace(
        result,
        id=mask(result.id),
        state=None if result.state is None else mask(result.state),
        message=mask(result.message),
    )


def execute(
    client: CoreHubClient, task: Task, options: ExecuteOptions | None = None
) -> TaskOutcome:
    """Run every step of ``task`` in order; never raises a CoreHubError.

    The results are masked (``CoreHubClient.mask``): they go to the ChronosJob's status.
    """
    outcome = _execute(client, task, options)
    outcome.results = [_masked(r, client.mask) for r in outcome.results]
    return outcome


def _execute(client: CoreHubClient, task: Task, options: ExecuteOptions | None) -> TaskOutcome:
    runner = _Runner(client, task, options or ExecuteOptions())
    outcome = TaskOutcome()
    try:
        steps = plan(task)
    except UnsafeIdError as exc:
        # Only a task that bypassed the models' id pattern gets here: nothing is sent.
        outcome.results.append(TargetResult(task.pipeline, False, None, str(exc), exc))
        return outcome
    for index, step in enumerate(steps):
        if index and step.commands:
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
