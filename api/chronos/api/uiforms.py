"""The dashboard's job form, as pure functions: posted fields <-> form values <-> the
REST request body (``JobCreate`` / ``JobUpdate`` field names, so the 422 errors of the
services name the very fields of the form).

Nothing here judges values beyond their shape (a number where a number goes): every
rule is the model's and the schedule engine's, reached through ``JobService``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from chronos.api import uiformparts as parts
from chronos.models.chronosjob import WAIT_TYPES, SnapshotWriteMethod, TaskType, Weekday
from chronos.models.tasks import EntityState

TASK_TYPES = tuple(t.value for t in TaskType)
WAIT_STATES = tuple(s.value for s in EntityState)
WRITE_METHODS = tuple(m.value for m in SnapshotWriteMethod)
WEEKDAYS = tuple(d.value for d in Weekday)
KINDS = ("friendly", "cron", "none")


@cache
def zones() -> tuple[str, ...]:
    """The tz database's zone names, for the form's time zone chooser."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


@dataclass
class FormValues:
    """What the form shows: strings and flags, as typed (kept when it is refused)."""

    name: str = ""
    description: str = ""
    namespace: str = ""
    task_type: str = TaskType.ENTITY_START.value
    pipeline_id: str = ""
    entity_ids: str = ""
    group_ids: str = ""
    with_snapshot: bool = False
    snapshot_write_method: str = SnapshotWriteMethod.UPSERT.value
    #: ``wait_for`` of entity_wait and group_wait tasks; empty: none sent.
    wait_state: str = ""
    wait_timeout_seconds: str = ""
    #: A container task's pod (issue 20).
    container: parts.Container = field(default_factory=parts.Container)
    #: Upstream jobs and the run queue (issue 20).
    order: parts.RunOrder = field(default_factory=parts.RunOrder)
    #: One of KINDS: "none" for a job that runs only after its upstream jobs.
    schedule_kind: str = "friendly"
    days: list[str] = field(default_factory=list)
    hour: str = "8"
    minute: str = "0"
    cron_expression: str = ""
    timezone: str = ""
    enabled: bool = True
    #: The spec's ``metadata.generation`` the form was read at: saving refuses a form
    #: whose settings someone changed meanwhile, not one whose status moved (every run
    #: writes the status, so a resourceVersion would make forms of busy jobs unsavable).
    generation: str = ""


def _first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key)
    return values[0].strip() if values else ""


def values_from_form(form: dict[str, list[str]]) -> FormValues:
    return FormValues(
        name=_first(form, "name"),
        description=_first(form, "description"),
        namespace=_first(form, "namespace"),
        task_type=_first(form, "task_type"),
        pipeline_id=_first(form, "pipeline_id"),
        entity_ids=_first(form, "entity_ids"),
        group_ids=_first(form, "group_ids"),
        with_snapshot=_first(form, "with_snapshot") == "true",
        snapshot_write_method=_first(form, "snapshot_write_method"),
        wait_state=_first(form, "wait_state"),
        wait_timeout_seconds=_first(form, "wait_timeout_seconds"),
        container=parts.container_from_form(form),
        order=parts.order_from_form(form),
        schedule_kind=kind if (kind := _first(form, "schedule_kind")) in KINDS else "friendly",
        days=[d for d in form.get("days_of_week", []) if d],
        hour=_first(form, "hour"),
        minute=_first(form, "minute"),
        cron_expression=_first(form, "cron_expression"),
        timezone=_first(form, "timezone"),
        enabled=_first(form, "enabled") == "true",
        generation=_first(form, "generation"),
    )


def values_from_view(view: dict[str, Any], generation: int | None = None) -> FormValues:
    """The form of an existing job, from its REST view (``job_view``)."""
    friendly = view.get("schedule")
    wait = view.get("wait_for") or {}
    return FormValues(
        name=str(view.get("name") or ""),
        description=str(view.get("description") or ""),
        namespace=str(view.get("namespace") or ""),
        task_type=str(view.get("task_type") or ""),
        pipeline_id=str(view.get("pipeline_id") or ""),
        entity_ids=", ".join(view.get("entity_ids") or []),
        group_ids=", ".join(view.get("group_ids") or []),
        with_snapshot=bool(view.get("with_snapshot")),
        snapshot_write_method=str(view.get("snapshot_write_method") or "UPSERT"),
        wait_state=str(wait.get("state") or ""),
        wait_timeout_seconds=str(wait.get("timeout_seconds") or ""),
        container=parts.container_from_view(view),
        order=parts.order_from_view(view),
        schedule_kind="friendly" if friendly else "cron" if view.get("cron_expression") else "none",
        days=list((friendly or {}).get("days_of_week") or []),
        hour=str((friendly or {}).get("hour", "")),
        minute=str((friendly or {}).get("minute", "")),
        cron_expression="" if friendly else str(view.get("cron_expression") or ""),
        timezone=str(view.get("timezone") or ""),
        enabled=bool(view.get("enabled", True)),
        generation="" if generation is None else str(generation),
    )


def _ids(text: str) -> list[str] | None:
    ids = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    return ids or None


def schedule_body(values: FormValues) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``schedule`` or ``cron_expression`` (the other null) and ``timezone``; both null
    for a job without a schedule (it runs only after its upstream jobs: the model
    refuses it without ``after``)."""
    errors: list[tuple[str, str]] = []
    body: dict[str, Any] = {"timezone": values.timezone or None}
    if values.schedule_kind == "none":
        body["schedule"] = body["cron_expression"] = None
    elif values.schedule_kind == "cron":
        body["schedule"] = None
        body["cron_expression"] = values.cron_expression
    else:
        body["cron_expression"] = None
        body["schedule"] = {
            "days_of_week": values.days,
            "hour": parts.number(values.hour, "schedule.hour", errors),
            "minute": parts.number(values.minute, "schedule.minute", errors),
        }
    return body, errors


def request_body(
    values: FormValues, *, creating: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The JobCreate/JobUpdate body of the form, and the fields that are not even of the
    right shape. An update sends every field, so clearing one in the form clears it."""
    body, errors = schedule_body(values)
    wait_for = None
    # Only a wait task has one (the form hides the fields for the others, but a hidden
    # field is still posted).
    if values.task_type.lower() in WAIT_TYPES:
        wait_for = {
            "state": values.wait_state,
            "timeout_seconds": parts.number(
                values.wait_timeout_seconds, "wait_timeout_seconds", errors
            ),
        }
    # Only a container task has a container, and then no pipeline (hidden fields are
    # posted all the same).
    is_container = values.task_type.lower() == TaskType.CONTAINER.value
    scope = values.task_type.lower().split("_", 1)[0]
    container = parts.container_body(values.container) if is_container else None
    body.update(parts.order_body(values.order, errors))
    body.update(
        name=values.name,
        description=values.description or None,
        task_type=values.task_type,
        container=container,
        pipeline_id=None if is_container else values.pipeline_id or None,
        # Ids of the task's own scope only (those of another are hidden, still posted).
        entity_ids=_ids(values.entity_ids) if scope == "entity" else None,
        group_ids=_ids(values.group_ids) if scope == "group" else None,
        with_snapshot=None if is_container else values.with_snapshot,
        snapshot_write_method=None if is_container else values.snapshot_write_method or None,
        wait_for=wait_for,
        enabled=values.enabled,
    )
    if creating:
        body = {k: v for k, v in body.items() if v is not None}
    return body, errors


def pydantic_errors(errors: list[Any]) -> list[tuple[str, str]]:
    """A ValidationError's ``errors()`` as (request field, reason)."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        out.append((".".join(loc) or "body", str(err.get("msg"))))
    return out


def by_field(errors: list[tuple[str, str]]) -> dict[str, str]:
    """Errors keyed by the form field they are shown next to (``schedule.hour`` by
    ``hour``; ``entity_id`` by ``entity_ids``); several on one field joined."""
    aliases = {"schedule.hour": "hour", "schedule.minute": "minute"}
    aliases |= {"schedule.days_of_week": "days_of_week", "entity_id": "entity_ids"}
    aliases |= {"wait_for": "wait_state", "wait_for.state": "wait_state"}
    aliases |= {"wait_for.timeout_seconds": "wait_timeout_seconds", **parts.FIELD_ALIASES}
    out: dict[str, str] = {}
    for name, reason in errors:
        plain = re.sub(r"\[\d+\]", "", name)  # after[1].job -> after.job
        key = aliases.get(name) or aliases.get(plain) or name.split("[", 1)[0]
        out[key] = f"{out[key]}; {reason}" if key in out else reason
    return out
