"""Run-now parameters: overrides of one run's task, never of the job's spec.

A run-now (REST ``POST /api/jobs/{id}/run`` with ``{"parameters": {...}}``, or the
``run-now`` annotation's JSON form) may narrow what one run does: a subset of the job's
entity or group ids, ``withSnapshot``, ``snapshotWriteMethod``, and a logical ``asOf``
time that is recorded with the run and passed on to the runner. What a task type allows
is judged here, once, for the REST facade (a 422 naming the field), the operator (a
refused run) and the runner (a configuration error); the overridden task is then
validated by ``Task`` itself, so ``TASK_RULES`` hold for it as for any spec.

Only ``chronos.models.base`` is imported at module level: ``jobstatus`` (RunRecord)
imports this module, and the spec's module imports ``jobstatus``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationError

from chronos.models.base import (
    AwareTime,
    Identifier,
    Lax,
    SnapshotWriteMethod,
    UniqueList,
    _Model,
)

if TYPE_CHECKING:
    from chronos.models.chronosjob import Task

#: The compact JSON of one run's parameters may be at most this long: it travels in an
#: annotation, an environment variable and the run's record. About 100 ids of 30
#: characters; a larger subset is the job's own list, or a job of its own.
PARAMETERS_MAX_BYTES = 4096
#: Ids in one override: as many as the bytes allow (an id is at least 3 bytes in JSON).
MAX_PARAMETER_IDS = PARAMETERS_MAX_BYTES // 4


class RunParameters(_Model):
    """Overrides for one run, recorded with it in history."""

    entity_ids: Annotated[list[Identifier] | None, UniqueList] = Field(
        default=None,
        min_length=1,
        max_length=MAX_PARAMETER_IDS,
        description="For entity_* tasks: the entities this run acts on, a subset of the job's.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    group_ids: Annotated[list[Identifier] | None, UniqueList] = Field(
        default=None,
        min_length=1,
        max_length=MAX_PARAMETER_IDS,
        description="For group_* tasks: the groups this run acts on, a subset of the job's.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    with_snapshot: bool | None = Field(
        default=None, description="For start tasks: this run's withSnapshot."
    )
    snapshot_write_method: Annotated[SnapshotWriteMethod, Lax] | None = Field(
        default=None,
        description="For start, snapshot and redo tasks: this run's snapshotWriteMethod.",
    )
    as_of: AwareTime | None = Field(
        default=None,
        description="A logical time (RFC 3339) the run is for: recorded, passed to the runner.",
    )


# ------------------------------------------------------------------ what a type allows

#: The one place saying which override each task type allows (actions of TaskType).
_ALLOWED_BY_ACTION: dict[str, frozenset[str]] = {
    "start": frozenset({"with_snapshot", "snapshot_write_method"}),
    "snapshot": frozenset({"snapshot_write_method"}),
    "redo": frozenset({"snapshot_write_method"}),
    "stop": frozenset(),
}
_ID_LISTS = {"entity": "entity_ids", "group": "group_ids"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def allowed(task: Task) -> frozenset[str]:
    """The parameter fields (snake_case) a run of ``task`` may override."""
    # ``container`` has no action part: it takes as_of only.
    action = task.type.value.partition("_")[2]
    ids = _ID_LISTS.get(task.type.scope)
    return _ALLOWED_BY_ACTION.get(action, frozenset()) | {"as_of"} | ({ids} if ids else set())


def problems(params: RunParameters, task: Task) -> list[tuple[str, str]]:
    """What ``task``'s type does not allow in ``params``: ``(path, message)`` pairs, the
    path camelCase and relative to the parameters (``entityIds[1]``); empty when none."""
    found: list[tuple[str, str]] = []
    permitted = allowed(task)
    for name in params.model_fields_set:
        if getattr(params, name) is None:
            continue
        if name not in permitted:
            found.append((_camel(name), f"{task.type.value} tasks do not take this parameter"))
            continue
        if name in _ID_LISTS.values():
            own = set(getattr(task, name) or ())
            found += [
                (f"{_camel(name)}[{i}]", f"'{v}' is not one of the job's ids")
                for i, v in enumerate(getattr(params, name))
                if v not in own
            ]
    return found


def apply(task: Task, params: RunParameters | None) -> Task:
    """The task one run performs: ``task`` with the overrides of ``params`` (checked with
    :func:`problems` first), validated again by ``Task`` and its rules."""
    if params is None:
        return task
    changes = params.model_dump(exclude_none=True, exclude={"as_of"}, by_alias=False)
    return type(task).model_validate({**task.model_dump(by_alias=False), **changes})


def judge(task: Task, params: RunParameters, where: str) -> tuple[Task, str | None]:
    """The task one run with ``params`` performs, or ``task`` and why it cannot (the
    fields named under ``where``: ``parameters.entityIds[1]: ...``). The operator judges
    a request when it serves it, the runner again when it starts (a hand-made Job may
    carry others)."""
    found = problems(params, task)
    if found:
        return task, "; ".join(f"{where}.{field}: {why}" for field, why in found)
    try:
        return apply(task, params), None
    except ValidationError as exc:
        return task, f"{where}: {exc.errors()[0]['msg']}"


def dumps(params: RunParameters) -> str:
    """The compact camelCase JSON of ``params`` (annotation, env CHRONOS_PARAMETERS)."""
    return json.dumps(params.model_dump(mode="json", exclude_none=True), separators=(",", ":"))


def digest(raw: dict[str, Any] | None) -> str:
    """A short fingerprint of parameters as JSON (``None``: none given), so a request
    repeated with its Idempotency-Key can be told apart from one with other parameters
    after the parameters themselves are gone."""
    text = json.dumps(raw or {}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
