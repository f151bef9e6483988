"""What CoreHub calls a task becomes, and how an entity's runtime state is read.

Pure functions only, so each mapping in /work/shared/corehub-api.md is written (and
tested) once. The assumed parts of that document are each kept in one constant here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chronos.models.chronosjob import Task, TaskType

#: Query parameter naming the entity of a command. One MOLO17 tool sends repeated
#: ``entitiesId=`` instead; the UI capture and current Chronos use ``entity=``.
ENTITY_PARAM = "entity"
#: Query parameter naming the group of a ``*-group`` command.
GROUP_PARAM = "groupId"

LOGIN_PATH = "/authentication/login"
SUCCESS_STATUSES = frozenset({200, 201, 202, 204})


class EntityState(StrEnum):
    """The state the CoreHub UI derives from ``/entities-status``."""

    ACTIVE = "Active"
    HOLD = "Hold"
    ERROR = "Error"
    WARNING = "Warning"


def entity_state(status: Mapping[str, Any]) -> EntityState:
    """The one place that turns an ``/entities-status`` item into a state."""
    error = status.get("errorState")
    if error:
        severity = error.get("severity") if isinstance(error, Mapping) else None
        return EntityState.WARNING if str(severity).upper() == "WARNING" else EntityState.ERROR
    if status.get("isSyncActive") or status.get("isMigrationActive"):
        return EntityState.ACTIVE
    return EntityState.HOLD


def is_running(status: Mapping[str, Any]) -> bool:
    """Sync or migration active, whatever the error state says (a Warning still runs)."""
    return bool(status.get("isSyncActive") or status.get("isMigrationActive"))


def error_message(status: Mapping[str, Any]) -> str:
    error = status.get("errorState")
    if isinstance(error, Mapping):
        text = error.get("message") or error.get("description") or error.get("code")
        return f"{error.get('severity', 'ERROR')}: {text}" if text else str(dict(error))
    return str(error)


class Expect(StrEnum):
    """What must hold for each affected entity after a command."""

    ACTIVE = "active"
    HOLD = "hold"
    SNAPSHOT_DONE = "snapshot-done"


class Verdict(StrEnum):
    REACHED = "reached"
    PENDING = "pending"
    FAILED = "failed"


def judge(expect: Expect, status: Mapping[str, Any] | None, *, snapshot_seen: bool) -> Verdict:
    """Whether one entity's status satisfies ``expect``.

    ``snapshot_seen`` tells whether the migration was observed running since the
    snapshot command: right after CoreHub accepts it the migration may not have started
    yet, and "not active" then means "not started" rather than "finished".
    """
    if status is None:
        return Verdict.PENDING
    state = entity_state(status)
    if state is EntityState.ERROR:
        return Verdict.FAILED
    if expect is Expect.ACTIVE:
        return Verdict.REACHED if is_running(status) else Verdict.PENDING
    if expect is Expect.HOLD:
        return Verdict.PENDING if is_running(status) else Verdict.REACHED
    if status.get("isMigrationActive"):
        return Verdict.PENDING
    return Verdict.REACHED if snapshot_seen else Verdict.PENDING


class Applied(StrEnum):
    """What CoreHub's state says of a command whose answer was lost."""

    TOOK_EFFECT = "took-effect"  # accept it and go on to the wait phase
    NO_EFFECT = "no-effect"  # CoreHub did not act: re-send it
    PENDING = "pending"  # an entity is changing: read again
    UNKNOWN = "unknown"  # cannot tell: never re-send, fail as unreachable
    IN_ERROR = "in-error"  # an entity is in Error: the wait phase reports it


def lost_answer(kind: str, status: Mapping[str, Any] | None) -> Applied:
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
    busy = bool(status.get("isBusy"))
    migrating = bool(status.get("isMigrationActive"))
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


def lost_answer_all(command: Command, statuses: Sequence[Mapping[str, Any] | None]) -> Applied:
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
    flag = pipeline.get("isInMaintenanceMode")
    if not isinstance(flag, bool):
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


def _sync(pipeline_id: str, action: str) -> str:
    return f"/pipelines/{pipeline_id}/commands/sync/{action}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _commands(task: Task, target: tuple[str, str] | None) -> tuple[Command, ...]:
    """The commands of one target; ``target`` is (param name, id) or None for a pipeline."""
    p = task.pipeline_id
    action = TaskType(task.type).value.split("_", 1)[1]
    suffix = "-group" if target is not None and target[0] == GROUP_PARAM else ""
    who: tuple[tuple[str, str], ...] = (target,) if target is not None else ()
    method = ("snapshotWriteMethod", str(task.snapshot_write_method))
    if action == "start":
        params = (*who, ("withSnapshot", _bool(task.with_snapshot)), method)
        return (Command(_sync(p, "start" + suffix), params, Expect.ACTIVE, True),)
    if action == "stop":
        return (Command(_sync(p, "stop" + suffix), who, Expect.HOLD, True),)
    if action == "redo":
        return (Command(_sync(p, "redo" + suffix), (*who, method), Expect.ACTIVE, False),)
    snapshot = Command(
        _sync(p, "one-time-snapshot" + suffix), (*who, method), Expect.SNAPSHOT_DONE, False
    )
    if target is not None and target[0] == ENTITY_PARAM:
        # The original Chronos stops an entity and waits for it to be idle before a
        # one-time snapshot; CoreHub does not snapshot an entity whose sync is running.
        stop = Command(_sync(p, "stop"), who, Expect.HOLD, True)
        return (stop, snapshot)
    return (snapshot,)


def plan(task: Task) -> list[Step]:
    """The CoreHub commands of ``task``: one step per entity or group, in order."""
    scope = TaskType(task.type).scope
    if scope == "entity":
        return [Step(scope, e, _commands(task, (ENTITY_PARAM, e))) for e in task.entity_ids or ()]
    if scope == "group":
        return [Step(scope, g, _commands(task, (GROUP_PARAM, g))) for g in task.group_ids or ()]
    return [Step(scope, task.pipeline_id, _commands(task, None))]


def affected_entities(step: Step, configured: Sequence[Mapping[str, Any]]) -> list[str]:
    """Entity ids a step's commands act on, from ``GET /pipelines/{p}/entities``."""
    if step.scope == "entity":
        return [step.target]
    ids = []
    for item in configured:
        entity = item.get("entity", item)
        if step.scope == "pipeline" or entity.get("groupId") == step.target:
            ids.append(str(entity["entityId"]))
    return ids


def pipelines_list(body: Any) -> list[dict[str, Any]]:
    """``GET /pipelines`` answers a bare list (CoreHub 2.2) or ``{"pipelines": [...]}``."""
    if isinstance(body, Mapping):
        body = body.get("pipelines", [])
    return [dict(p) for p in body] if isinstance(body, list) else []
