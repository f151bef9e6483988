"""What CoreHub calls a task becomes, and how an entity's runtime state is read.

Pure functions only, so each mapping in /work/shared/corehub-api.md is written (and
tested) once. The assumed parts of that document are each kept in one constant here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from chronos.corehub import paths
from chronos.corehub.answers import EntityConfig, EntityStatus, Mask, objects
from chronos.models.chronosjob import Task, TaskType
from chronos.models.tasks import EntityState as EntityState
from chronos.models.tasks import WaitFor

#: Query parameter naming the entity of a command. One MOLO17 tool sends repeated
#: ``entitiesId=`` instead; the UI capture and current Chronos use ``entity=``.
ENTITY_PARAM = "entity"
#: Query parameter naming the group of a ``*-group`` command.
GROUP_PARAM = "groupId"

LOGIN_PATH = paths.LOGIN
SUCCESS_STATUSES = frozenset({200, 201, 202, 204})


def entity_state(status: EntityStatus) -> EntityState:
    """The one place that turns an ``/entities-status`` item into a state."""
    error = status.error_state
    if error:
        severity = error.get("severity") if isinstance(error, Mapping) else None
        return EntityState.WARNING if str(severity).upper() == "WARNING" else EntityState.ERROR
    if status.is_sync_active or status.is_migration_active:
        return EntityState.ACTIVE
    return EntityState.HOLD


def is_running(status: EntityStatus) -> bool:
    """Sync or migration active, whatever the error state says (a Warning still runs)."""
    return status.is_sync_active or status.is_migration_active


def error_message(status: EntityStatus) -> str:
    error = status.error_state
    if isinstance(error, Mapping):
        text = error.get("message") or error.get("description") or error.get("code")
        return f"{error.get('severity', 'ERROR')}: {text}" if text else str(dict(error))
    return str(error)


class Expect(StrEnum):
    """What must hold for each affected entity after a command."""

    ACTIVE = "active"
    HOLD = "hold"
    SNAPSHOT_DONE = "snapshot-done"
    REDO_DONE = "redo-done"
    #: The pipeline's ``isInMaintenanceMode`` (``GET /pipelines/{p}``), not its entities.
    MAINTENANCE_ON = "maintenance-on"
    MAINTENANCE_OFF = "maintenance-off"

    @property
    def needs_migration(self) -> bool:
        """Done only once CoreHub's state showed that the command's migration ran."""
        return self in (Expect.SNAPSHOT_DONE, Expect.REDO_DONE)

    @property
    def maintenance(self) -> bool | None:
        """The maintenance flag this expects (None: an expectation on entities)."""
        return {Expect.MAINTENANCE_ON: True, Expect.MAINTENANCE_OFF: False}.get(self)


class Verdict(StrEnum):
    REACHED = "reached"
    PENDING = "pending"
    FAILED = "failed"
    #: A snapshot or redo whose migration shows no sign of having started: not done, and
    #: failed as "migration never started" once the start limit has passed.
    NOT_STARTED = "not-started"


@dataclass(frozen=True)
class Seen:
    """What the reads of one entity showed, from the read just before a snapshot or redo.

    Only a change that begins after that read is a sign of the command: a migration (or
    CoreHub busy with the entity) already under way before it says nothing, since
    "finished" and "never started" then look alike.
    """

    #: Some read showed no migration running / the entity not busy.
    quiet: bool = False
    idle: bool = False
    #: After such a read, one showed the migration running: it started.
    migrated: bool = False
    #: After such a read, one showed CoreHub busy with the entity (``isBusy``: CoreHub
    #: acting on it, **assumed** as in ``lost_answer``). Busy and then idle again is all
    #: a migration shorter than a poll interval shows.
    acted: bool = False

    def then(self, status: EntityStatus | None) -> Seen:
        """These observations followed by ``status``."""
        if status is None:
            return self
        return Seen(
            quiet=self.quiet or not status.is_migration_active,
            idle=self.idle or not status.is_busy,
            migrated=self.migrated or (self.quiet and status.is_migration_active),
            acted=self.acted or (self.idle and status.is_busy),
        )


def judge(expect: Expect, status: EntityStatus | None, seen: Seen) -> Verdict:
    """Whether one entity satisfies ``expect``; ``seen`` already includes ``status``.

    Start and stop are judged by the state they lead to, which CoreHub shows: running,
    or not running. A snapshot or redo ends in a state that an entity which never
    migrated shows too, so it is done only once its migration was seen to start (or
    CoreHub to take the entity up and put it down again), is over, CoreHub no longer busy
    with the entity and, after a redo, its sync running again. Until the migration is
    seen to start, a busy or untouched entity is NOT_STARTED.
    """
    if status is None:
        return Verdict.PENDING
    if entity_state(status) is EntityState.ERROR:
        return Verdict.FAILED
    if expect is Expect.ACTIVE:
        return Verdict.REACHED if is_running(status) else Verdict.PENDING
    if expect is Expect.HOLD:
        # isBusy does not hold a stop back: Hold is what it asked for, and a snapshot
        # after it needs its own evidence anyway.
        return Verdict.PENDING if is_running(status) else Verdict.REACHED
    working = status.is_migration_active or status.is_busy
    if not seen.migrated and (working or not seen.acted):
        return Verdict.NOT_STARTED
    if working:
        return Verdict.PENDING
    if expect is Expect.REDO_DONE and not status.is_sync_active:
        return Verdict.PENDING  # the migration is over; CDC not restarted yet
    return Verdict.REACHED


def wait_verdict(wanted: EntityState, status: EntityStatus | None) -> Verdict:
    """Whether one entity is in the state a wait task waits for.

    Error is final unless Error is what is waited for: an entity in Error does not come
    back by itself, so the wait fails then rather than at its timeout (as every other
    task does). An entity not listed (yet) is PENDING.
    """
    if status is None:
        return Verdict.PENDING
    state = entity_state(status)
    if state is wanted:
        return Verdict.REACHED
    return Verdict.FAILED if state is EntityState.ERROR else Verdict.PENDING


def maintenance_flag(pipeline: Mapping[str, Any]) -> bool | None:
    """A pipeline answer's ``isInMaintenanceMode``; None when it is not a boolean."""
    flag = pipeline.get("isInMaintenanceMode")
    return flag if isinstance(flag, bool) else None


class Applied(StrEnum):
    """What CoreHub's state says of a command whose answer was lost."""

    TOOK_EFFECT = "took-effect"  # accept it and go on to the wait phase
    NO_EFFECT = "no-effect"  # CoreHub did not act: re-send it
    PENDING = "pending"  # an entity is changing: read again
    UNKNOWN = "unknown"  # cannot tell: never re-send, fail as unreachable
    IN_ERROR = "in-error"  # an entity is in Error: the wait phase reports it


def lost_answer(kind: str, status: EntityStatus | None) -> Applied:
    """Whether a ``kind`` command (``Command.kind``) whose answer was lost acted on one entity.

    Only the current ``/entities-status`` item is used; ``isBusy`` while the expected
    change has not shown yet is read as "CoreHub is acting on it" (**assumed**, as the
    fake CoreHub does). Start and stop are judged by the state they lead to: a start
    that finds the entity running, or a stop that finds it stopped, needs no re-send.
    A snapshot is seen only while its migration runs: afterwards "finished" and "never
    started" look alike, so it is UNKNOWN. A redo ends with the sync running, which an
    entity already running before looks like too (UNKNOWN); an entity on Hold and idle
    shows that the redo did not act.
    """
    if status is None:
        return Applied.UNKNOWN
    if entity_state(status) is EntityState.ERROR:
        return Applied.IN_ERROR
    running = is_running(status)
    busy = status.is_busy
    migrating = status.is_migration_active
    if kind == "start":
        if running:
            return Applied.TOOK_EFFECT
        return Applied.PENDING if busy else Applied.NO_EFFECT
    if kind == "stop":
        if not running:
            return Applied.TOOK_EFFECT
        return Applied.PENDING if busy else Applied.NO_EFFECT
    if kind in ("one-time-snapshot", "redo"):
        if migrating:
            return Applied.TOOK_EFFECT
        if busy:
            return Applied.PENDING
        if kind == "redo" and not running:
            return Applied.NO_EFFECT
        return Applied.UNKNOWN
    return Applied.UNKNOWN


def lost_answer_all(command: Command, statuses: Sequence[EntityStatus | None]) -> Applied:
    """``lost_answer`` over every entity a command affects.

    A command acts on all its entities or none, so entities already in the target state
    say nothing: when some show no effect, a start or stop is re-sent (it converges);
    a snapshot or redo, which some entities may have begun, is UNKNOWN. No entity to
    look at is UNKNOWN.
    """
    verdicts = {lost_answer(command.kind, s) for s in statuses}
    if not verdicts:
        return Applied.UNKNOWN
    for first in (Applied.IN_ERROR, Applied.UNKNOWN, Applied.PENDING):
        if first in verdicts:
            return first
    if verdicts == {Applied.TOOK_EFFECT}:
        return Applied.TOOK_EFFECT
    if verdicts == {Applied.NO_EFFECT} or command.idempotent:
        return Applied.NO_EFFECT
    return Applied.UNKNOWN


def settle(
    applied: Applied, elapsed: float, *, settle_for: float, give_up_after: float
) -> Applied | None:
    """The final verdict after ``elapsed`` seconds of reading, or None to read again.

    An effect (or an Error) is final at once. "No effect" and "unknown" are final only
    after ``settle_for`` seconds, since CoreHub may not show a command it has just
    accepted; an entity still changing after ``give_up_after`` seconds is UNKNOWN.
    """
    if applied in (Applied.TOOK_EFFECT, Applied.IN_ERROR):
        return applied
    if elapsed < settle_for:
        return None
    if applied is Applied.PENDING:
        return None if elapsed < give_up_after else Applied.UNKNOWN
    return applied


def maintenance_applied(pipeline: Mapping[str, Any], enter: bool) -> Applied:
    """Whether a maintenance enter/exit whose answer was lost took effect."""
    flag = maintenance_flag(pipeline)
    if flag is None:
        return Applied.UNKNOWN
    return Applied.TOOK_EFFECT if flag is enter else Applied.NO_EFFECT


@dataclass(frozen=True)
class Command:
    """One CoreHub command: ``POST path?params`` (no body), then wait for ``expect``."""

    path: str
    params: tuple[tuple[str, str], ...]
    expect: Expect
    #: Start and stop converge; a second snapshot or redo would restart the copy. No
    #: command is re-sent blindly once it may have reached CoreHub (see
    #: ``lost_answer``): this only decides what a mixed group or pipeline state means.
    idempotent: bool

    @property
    def action(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def kind(self) -> str:
        """``start``, ``stop``, ``one-time-snapshot`` or ``redo``, for one or a group."""
        return self.action.removesuffix("-group")


@dataclass(frozen=True)
class Step:
    """Everything done for one target (entity, group or pipeline), in order."""

    scope: str
    target: str
    commands: tuple[Command, ...]
    #: A wait task's step sends nothing and waits for this.
    wait: WaitFor | None = None


def _sync(pipeline_id: str, action: str) -> str:
    return paths.path(paths.SYNC_COMMAND, pipeline=pipeline_id, action=action)


def _bool(value: bool) -> str:
    return "true" if value else "false"


#: (param name, id) of an entity or group, or None for a pipeline.
Target = tuple[str, str] | None
#: How one task type becomes the commands of one target.
Builder = Callable[[Task, Target], tuple[Command, ...]]


def _sync_commands(task: Task, target: Target) -> tuple[Command, ...]:
    """The commands of one target; ``target`` is (param name, id) or None for a pipeline."""
    p = task.pipeline
    action = task.type.value.split("_", 1)[1]
    suffix = "-group" if target is not None and target[0] == GROUP_PARAM else ""
    who: tuple[tuple[str, str], ...] = (target,) if target is not None else ()
    method = ("snapshotWriteMethod", task.snapshot_write_method.value)
    if action == "start":
        params = (*who, ("withSnapshot", _bool(task.with_snapshot)), method)
        return (Command(_sync(p, "start" + suffix), params, Expect.ACTIVE, True),)
    if action == "stop":
        return (Command(_sync(p, "stop" + suffix), who, Expect.HOLD, True),)
    if action == "redo":
        return (Command(_sync(p, "redo" + suffix), (*who, method), Expect.REDO_DONE, False),)
    snapshot = Command(
        _sync(p, "one-time-snapshot" + suffix), (*who, method), Expect.SNAPSHOT_DONE, False
    )
    if target is not None and target[0] == ENTITY_PARAM:
        # The original Chronos stops an entity and waits for it to be idle before a
        # one-time snapshot; CoreHub does not snapshot an entity whose sync is running.
        stop = Command(_sync(p, "stop"), who, Expect.HOLD, True)
        return (stop, snapshot)
    return (snapshot,)


def _maintenance(enter: bool, task: Task, target: Target) -> tuple[Command, ...]:
    action = "enter" if enter else "exit"
    path = paths.path(paths.MAINTENANCE_COMMAND, pipeline=task.pipeline, action=action)
    expect = Expect.MAINTENANCE_ON if enter else Expect.MAINTENANCE_OFF
    # Entering maintenance twice leaves it on: it converges like start and stop.
    return (Command(path, (), expect, True),)


def _no_command(task: Task, target: Target) -> tuple[Command, ...]:
    return ()


#: The task registry: every TaskType and how it becomes commands. A task type that is
#: not here cannot be planned (``plan`` raises), and a test checks every one is.
TASKS: Mapping[TaskType, Builder] = {
    **{
        TaskType[f"{scope}_{action}"]: _sync_commands
        for scope in ("ENTITY", "PIPELINE", "GROUP")
        for action in ("START", "STOP", "SNAPSHOT", "REDO")
    },
    TaskType.PIPELINE_MAINTENANCE_ENTER: partial(_maintenance, True),
    TaskType.PIPELINE_MAINTENANCE_EXIT: partial(_maintenance, False),
    TaskType.ENTITY_WAIT: _no_command,
    TaskType.GROUP_WAIT: _no_command,
}


def plan(task: Task) -> list[Step]:
    """The CoreHub commands of ``task``: one step per entity or group, in order."""
    scope = task.type.scope
    build = TASKS[task.type]
    wait = task.wait_for
    if scope == "entity":
        ids = task.entity_ids or ()
        return [Step(scope, e, build(task, (ENTITY_PARAM, e)), wait) for e in ids]
    if scope == "group":
        ids = task.group_ids or ()
        return [Step(scope, g, build(task, (GROUP_PARAM, g)), wait) for g in ids]
    return [Step(scope, task.pipeline, build(task, None), wait)]


def affected_entities(step: Step, configured: Sequence[EntityConfig]) -> list[str]:
    """Entity ids a step's commands act on, from ``GET /pipelines/{p}/entities``."""
    if step.scope == "entity":
        return [step.target]
    return [
        e.entity_id for e in configured if step.scope == "pipeline" or e.group_id == step.target
    ]


def pipelines_list(body: Any, where: str, *, mask: Mask) -> list[dict[str, Any]]:
    """``GET /pipelines`` answers a bare list (CoreHub 2.2) or ``{"pipelines": [...]}``."""
    if isinstance(body, Mapping) and "pipelines" in body:
        body = body["pipelines"]
    return objects(body, "a list of pipelines", where, mask=mask)
