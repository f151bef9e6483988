"""The job form's parts of issue 20, as pure functions: upstream jobs (``after``), the
run queue (``concurrency_policy``, ``max_queued``) and a container task's pod; and the
run-now page's parameters. Each turns posted fields into REST request fields (the
names ``JobCreate`` and ``RunNowIn`` take, so the services' 422 and 409 errors name
them) and a stored job's REST view back into what the form shows.

As in ``chronos.api.uiforms``, nothing here judges a value beyond its shape: the model
and the services do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chronos.models.chains import MAX_UPSTREAMS, ChainOn
from chronos.models.chronosjob import ConcurrencyPolicy, SnapshotWriteMethod, Task, TaskType
from chronos.models.params import allowed
from chronos.models.queue import ENQUEUE

CHAIN_ON = tuple(o.value for o in ChainOn)
POLICIES = tuple(p.value for p in ConcurrencyPolicy)
#: Empty rows the form offers beyond the ones in use (a job has at most MAX_UPSTREAMS).
SPARE_UPSTREAMS = 2
SPARE_ENV = 2
#: The parameter fields of the run-now page, as ``RunParametersIn`` names them.
PARAMETER_FIELDS = ("entity_ids", "group_ids", "with_snapshot", "snapshot_write_method", "as_of")
WRITE_METHODS = tuple(m.value for m in SnapshotWriteMethod)

Posted = dict[str, list[str]]
Errors = list[tuple[str, str]]


@dataclass
class Upstream:
    job: str = ""
    when: str = ChainOn.SUCCEEDED.value


@dataclass
class EnvRow:
    name: str = ""
    value: str = ""


@dataclass
class Container:
    """A container task's fields the form shows (the rest of a stored container, such
    as resources and references to Secrets, is kept by :func:`keep_unshown`)."""

    image: str = ""
    #: One item per line.
    command: str = ""
    args: str = ""
    env: list[EnvRow] = field(default_factory=list)
    service_account_name: str = ""


@dataclass
class RunOrder:
    """When runs start besides the schedule: after other jobs, and the queue."""

    after: list[Upstream] = field(default_factory=list)
    after_all: bool = False
    after_within_seconds: str = ""
    concurrency_policy: str = ConcurrencyPolicy.FORBID.value
    max_queued: str = ""


def _all(form: Posted, key: str) -> list[str]:
    return [v.strip() for v in form.get(key, [])]


def _one(form: Posted, key: str) -> str:
    values = form.get(key)
    return values[0].strip() if values else ""


def _pairs(form: Posted, first: str, second: str) -> list[tuple[str, str]]:
    """Rows posted as two lists of the same length (a row per index); a missing second
    value is empty."""
    a, b = _all(form, first), _all(form, second)
    return [(x, b[i] if i < len(b) else "") for i, x in enumerate(a)]


def order_from_form(form: Posted) -> RunOrder:
    return RunOrder(
        after=[Upstream(job, when) for job, when in _pairs(form, "after_job", "after_when")],
        after_all=_one(form, "after_all") == "true",
        after_within_seconds=_one(form, "after_within_seconds"),
        concurrency_policy=_one(form, "concurrency_policy"),
        max_queued=_one(form, "max_queued"),
    )


def order_from_view(view: dict[str, Any]) -> RunOrder:
    within = view.get("after_within_seconds")
    queued = view.get("max_queued")
    return RunOrder(
        after=[
            Upstream(str(u.get("job") or ""), str(u.get("when") or ChainOn.SUCCEEDED.value))
            for u in view.get("after") or []
            if isinstance(u, dict)
        ],
        after_all=bool(view.get("after_all")),
        after_within_seconds="" if within is None else str(within),
        concurrency_policy=str(view.get("concurrency_policy") or ConcurrencyPolicy.FORBID.value),
        max_queued="" if queued is None else str(queued),
    )


def upstream_rows(order: RunOrder) -> list[Upstream]:
    """The rows the form shows: those in use and a few empty ones, at most MAX_UPSTREAMS
    (more in use than that are all shown: the model names the excess)."""
    rows = [u for u in order.after if u.job]
    spare = max(0, min(SPARE_UPSTREAMS, MAX_UPSTREAMS - len(rows)))
    return rows + [Upstream() for _ in range(spare if rows else max(spare, 1))]


def number(text: str, name: str, errors: Errors) -> int | None:
    """A whole number as typed, or None when empty (the error appended otherwise)."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        errors.append((name, "must be a whole number"))
        return None


def order_body(order: RunOrder, errors: Errors) -> dict[str, Any]:
    """``after``, ``after_all``, ``after_within_seconds``, ``concurrency_policy`` and
    ``max_queued`` (null: not set; an update then clears it). Rows without a job are
    left out; ``max_queued`` is sent with Enqueue only (the form hides it otherwise,
    but a hidden field is still posted)."""
    after = [{"job": u.job, "when": u.when or None} for u in order.after if u.job]
    enqueue = order.concurrency_policy == ENQUEUE
    return {
        "after": after or None,
        "after_all": True if order.after_all else None,
        "after_within_seconds": number(order.after_within_seconds, "after_within_seconds", errors),
        "concurrency_policy": order.concurrency_policy or None,
        "max_queued": number(order.max_queued, "max_queued", errors) if enqueue else None,
    }


def _lines(text: str) -> list[str] | None:
    items = [line.strip() for line in text.splitlines() if line.strip()]
    return items or None


def container_from_form(form: Posted) -> Container:
    return Container(
        image=_one(form, "image"),
        # Kept as typed, line breaks included (one item per line).
        command=(form.get("command") or [""])[0],
        args=(form.get("args") or [""])[0],
        env=[EnvRow(n, v) for n, v in _pairs(form, "env_name", "env_value")],
        service_account_name=_one(form, "service_account_name"),
    )


def container_from_view(view: dict[str, Any]) -> Container:
    """The form of a stored ``spec.task.container`` (camelCase, as the view carries it);
    only the literal environment values are rows (references are kept, not shown)."""
    stored = view.get("container") or {}
    return Container(
        image=str(stored.get("image") or ""),
        command="\n".join(stored.get("command") or []),
        args="\n".join(stored.get("args") or []),
        env=[
            EnvRow(str(e.get("name") or ""), str(e.get("value")))
            for e in stored.get("env") or []
            if isinstance(e, dict) and "value" in e
        ],
        service_account_name=str(stored.get("serviceAccountName") or ""),
    )


def env_rows(container: Container) -> list[EnvRow]:
    rows = [e for e in container.env if e.name or e.value]
    return rows + [EnvRow() for _ in range(SPARE_ENV)]


def container_body(container: Container) -> dict[str, Any]:
    """``container`` in the ChronosJob's shape (``ContainerTask`` takes camelCase); an
    env row without a name but with a value is sent (the model names it)."""
    out: dict[str, Any] = {"image": container.image}
    if (command := _lines(container.command)) is not None:
        out["command"] = command
    if (args := _lines(container.args)) is not None:
        out["args"] = args
    env = [{"name": e.name, "value": e.value} for e in container.env if e.name or e.value]
    if env:
        out["env"] = env
    if container.service_account_name:
        out["serviceAccountName"] = container.service_account_name
    return out


def keep_unshown(sent: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """``sent`` (the form's container) with what the form does not show taken from the
    stored container: resources, runAsUser, and the environment variables that
    reference a Secret or ConfigMap (unless the form now sets a variable of that name).
    Saving a form therefore never drops them."""
    if not stored:
        return sent
    out = dict(sent)
    for key in ("resources", "runAsUser"):
        if stored.get(key) is not None:
            out[key] = stored[key]
    named = {e.get("name") for e in out.get("env") or []}
    refs = [
        e
        for e in stored.get("env") or []
        if isinstance(e, dict) and "value" not in e and e.get("name") not in named
    ]
    if refs:
        out["env"] = [*(out.get("env") or []), *refs]
    return out


def env_references(view: dict[str, Any]) -> list[str]:
    """Words for each stored environment variable that references an object (shown,
    never its value: the form keeps these as they are)."""
    out = []
    for e in (view.get("container") or {}).get("env") or []:
        if not isinstance(e, dict) or "value" in e:
            continue
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            ref = e.get(key)
            if isinstance(ref, dict):
                out.append(f"{e.get('name')}: key {ref.get('key')} of {kind} {ref.get('name')}")
    return out


#: Request fields of the form's issue-20 parts -> the form field shown next to.
FIELD_ALIASES = {
    "after.job": "after",
    "after.when": "after",
    "container.image": "image",
    "container.command": "command",
    "container.args": "args",
    "container.env": "env",
    "container.env.name": "env",
    "container.env.value": "env",
    "container.serviceAccountName": "service_account_name",
    "container.service_account_name": "service_account_name",
    "container.resources": "image",
    "container": "image",
}


# --------------------------------------------------------------------- run now


@dataclass
class RunParameters:
    """The run-now page's fields, as typed: ids ticked, and "" for "as the job says"."""

    entity_ids: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    with_snapshot: str = ""
    snapshot_write_method: str = ""
    as_of: str = ""


def parameters_from_form(form: Posted) -> RunParameters:
    return RunParameters(
        entity_ids=[i for i in _all(form, "entity_ids") if i],
        group_ids=[i for i in _all(form, "group_ids") if i],
        with_snapshot=_one(form, "with_snapshot"),
        snapshot_write_method=_one(form, "snapshot_write_method"),
        as_of=_one(form, "as_of"),
    )


def parameters_body(values: RunParameters) -> dict[str, Any] | None:
    """``RunNowIn.parameters``: only what the page set (None: the run as the job says).
    ``with_snapshot`` is "true", "false" or "" (as the job says)."""
    out: dict[str, Any] = {}
    if values.entity_ids:
        out["entity_ids"] = values.entity_ids
    if values.group_ids:
        out["group_ids"] = values.group_ids
    if values.with_snapshot in ("true", "false"):
        out["with_snapshot"] = values.with_snapshot == "true"
    elif values.with_snapshot:
        out["with_snapshot"] = values.with_snapshot  # the model names it
    if values.snapshot_write_method:
        out["snapshot_write_method"] = values.snapshot_write_method
    if values.as_of:
        out["as_of"] = values.as_of
    return out or None


def parameter_errors(errors: Errors) -> dict[str, str]:
    """The run-now service's errors (``parameters.entity_ids[1]``) by the page's field
    (``entity_ids``); anything else under ``parameters``."""
    out: dict[str, str] = {}
    for name, reason in errors:
        head = name.removeprefix("parameters").lstrip(".").split("[", 1)[0].split(".", 1)[0]
        key = head if head in PARAMETER_FIELDS else "parameters"
        out[key] = f"{out[key]}; {reason}" if key in out else reason
    return out


def offered(task_type: str) -> frozenset[str]:
    """The parameter fields the run-now page offers for a task type: what
    ``chronos.models.params.allowed`` takes for it (the service judges again)."""
    try:
        kind = TaskType(task_type)
    except ValueError:
        return frozenset({"as_of"})
    # A minimal task of the type: allowed() reads only the type.
    return allowed(Task.model_construct(type=kind))
