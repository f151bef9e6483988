"""Request and response bodies of the Chronos REST API (snake_case, as Chronos clients send).

Request models check JSON *types* only, strictly as the Kubernetes API would: ``"8"`` is
not an integer and ``"yes"`` not a boolean. Every rule about values (ranges, task types,
which ids a task needs, schedule forms, time zones) belongs to ``ChronosJobSpec`` and
the schedule engine; the services build the spec and report their errors, so the REST
facade, the CRD and the operator always agree (see ``chronos.api.errors``). The OpenAPI
document shows the model's bounds (read from the model) so that it states what is
enforced.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    model_validator,
)

from chronos.api.patterns import cron_regex, documented_cron_pattern, documented_rrule_pattern
from chronos.models import timing as t
from chronos.models.base import DNS_SUBDOMAIN, RFC3339, JsonInt
from chronos.models.chains import MAX_UPSTREAMS, MAX_WITHIN_SECONDS, ChainOn
from chronos.models.chronosjob import (
    MAX_ID_LENGTH,
    MAX_IDS,
    MAX_TEXT,
    NO_CONTROL_CHARS,
    NO_CONTROL_CHARS_BUT_LINES,
    ConcurrencyPolicy,
    Schedule,
    SnapshotWriteMethod,
    TaskType,
    Weekday,
)
from chronos.models.container import ContainerTask
from chronos.models.params import MAX_PARAMETER_IDS
from chronos.models.queue import MAX_QUEUED
from chronos.models.rules import COREHUB_ID
from chronos.models.tasks import EntityState, WaitFor
from chronos.schedule import ScheduleError, validate_time_zone

#: A job's id (its ChronosJob's name): a DNS subdomain.
JOB_ID = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

TASK_TYPE_VALUES: list[JsonValue] = [t.value for t in TaskType]
TASK_TYPE_VALUES += [t.value.upper() for t in TaskType]


def _known_task_type(value: str | None) -> str | None:
    if value is not None and value not in TASK_TYPE_VALUES:
        known = ", ".join(t.value for t in TaskType)
        raise ValueError(f"unknown task type; one of {known} (lower or upper case)")
    return value


#: The ``?task_type=`` filter of the list: a known task type, else a 422 naming it.
TaskTypeFilter = Annotated[
    str | None,
    AfterValidator(_known_task_type),
    Field(json_schema_extra={"enum": TASK_TYPE_VALUES}),
]


def _bounds(model: type[BaseModel], name: str) -> dict[str, JsonValue]:
    """The bounds of a model field as JSON Schema (documented, not re-checked)."""
    out: dict[str, JsonValue] = {}
    for meta in model.model_fields[name].metadata:
        for attr, key in (
            *(("ge", "minimum"), ("le", "maximum")),
            *(("min_length", "minLength"), ("max_length", "maxLength")),
        ):
            value = getattr(meta, attr, None)
            if isinstance(value, int):
                out[key] = value
    return out


#: A CoreHub id in a request: the OpenAPI document states the model's pattern and length
#: (rules.COREHUB_ID); ``ChronosJobSpec`` enforces them, so a bad id is a 422 naming the
#: request field with the model's message (``errors.spec_errors``).
CoreHubId = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, **COREHUB_ID.as_schema()}
    ),
]

#: Fields a GET returns that a client may send back unchanged in a PUT (they are ignored).
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "namespace",
        "is_cron_expression",
        "schedule_description",
        "created_at",
        "updated_at",
        "last_run",
        "last_run_status",
        "last_successful_run",
        "last_error_message",
        "last_run_error_time",
        "next_run",
        "next_run_times",
        "ready",
        "status_message",
        "resource_version",
        "run_now_token",
        "resolved_cron_expression",
        "queued",
    }
)


#: The spec's rules for its free-text fields, documented (``ChronosJobSpec`` checks them).
SINGLE_LINE: dict[str, JsonValue] = {"pattern": NO_CONTROL_CHARS, "maxLength": MAX_TEXT}
MULTI_LINE: dict[str, JsonValue] = {"pattern": NO_CONTROL_CHARS_BUT_LINES, "maxLength": MAX_TEXT}
#: A cron expression: the schedule engine's grammar (``chronos.schedule.grammar``) and the
#: spec's length; built with the document, not at import.
CRON_DESCRIPTION = (
    "Five-field cron expression (minute hour day-of-month month day-of-week) or a "
    "descriptor (@daily, @every 1h30m), as a CronJob accepts; the pattern is the "
    "schedule engine's grammar. Runs closer than CHRONOS_MIN_INTERVAL_SECONDS (one "
    "minute unless raised) are refused. A field may hold Jenkins' H, H(a-b), H/n or "
    "H(a-b)/n: a value hashed from the job's namespace, id and schedule name "
    "(resolved_cron_expression shows it)."
)


def _cron(schema: dict[str, JsonValue]) -> None:
    schema.update({"pattern": documented_cron_pattern(), **_bounds(Schedule, "cron")})


def documented_cron(value: str) -> bool:
    """Whether the document's ``cron_expression`` (``_cron``) allows ``value``: for a
    value the facade ignores but the document still constrains (a read-back echo)."""
    bounds = _bounds(Schedule, "cron")
    lo, hi = bounds.get("minLength", 0), bounds.get("maxLength", len(value))
    if not isinstance(lo, int) or not isinstance(hi, int):  # _bounds gives ints only
        raise TypeError(bounds)
    return lo <= len(value) <= hi and cron_regex().fullmatch(value) is not None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# What ``mapping.apply_request`` refuses of a whole body, stated in the document too
# (the fields' own types cannot say it).

_CRON_GIVEN: dict[str, JsonValue] = {
    "required": ["cron_expression"],
    "properties": {"cron_expression": {"type": "string", "minLength": 1}},
}
_CRON_SENT: dict[str, JsonValue] = {
    "required": ["cron_expression"],
    "properties": {"cron_expression": {"type": "string"}},
}
_TIMES: dict[str, JsonValue] = {
    "required": ["hour", "minute"],
    "properties": {"hour": {"type": "integer"}, "minute": {"type": "integer"}},
}
#: A friendly form with something in it (``{}`` or only nulls say nothing).
_SOMETHING: dict[str, JsonValue] = {
    "anyOf": [
        {"required": ["days_of_week"], "properties": {"days_of_week": {"type": "array"}}},
        {"required": ["hour"], "properties": {"hour": {"type": "integer"}}},
        {"required": ["minute"], "properties": {"minute": {"type": "integer"}}},
    ]
}
_FRIENDLY_SENT: dict[str, JsonValue] = {
    "required": ["schedule"],
    "properties": {"schedule": {"type": "object", **_SOMETHING}},
}
_FRIENDLY_GIVEN: dict[str, JsonValue] = {
    "required": ["schedule"],
    "properties": {"schedule": {"type": "object", **_TIMES}},
}
#: A body that sends either schedule field gives one form in full (a sent form
#: replaces the stored schedule).
_SCHEDULE_COMPLETE: dict[str, JsonValue] = {
    "anyOf": [
        {
            "not": {
                "anyOf": [
                    {"required": ["schedule"], "properties": {"schedule": {"type": "object"}}},
                    _CRON_SENT,
                ]
            }
        },
        _CRON_GIVEN,
        _FRIENDLY_GIVEN,
    ]
}
#: A friendly form with something in it is the schedule, even beside a cron
#: expression (then only the echo), so it needs both hour and minute.
_FRIENDLY_COMPLETE: dict[str, JsonValue] = {"if": _FRIENDLY_SENT, "then": _FRIENDLY_GIVEN}


def _non_empty(field: str, item: str = "array") -> dict[str, JsonValue]:
    extra: dict[str, JsonValue] = {"minItems": 1} if item == "array" else {}
    return {"required": [field], "properties": {field: {"type": item, **extra}}}


def _scope(scope: str, given: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """``ChronosJobSpec``'s scope rule (ids of a scope for its task types only)."""
    kind: JsonValue = {"pattern": f"^({scope}|{scope.upper()})_"}
    return {
        "if": {"required": ["task_type"], "properties": {"task_type": kind}},
        "then": given,
        "else": {"not": given},
    }


_ENTITY_GIVEN: dict[str, JsonValue] = {
    "anyOf": [_non_empty("entity_ids"), _non_empty("entity_id", "string")]
}
#: No task type acts on entities and groups at once (a new job, and an update whatever
#: task type it has).
_NOT_BOTH_SCOPES: dict[str, JsonValue] = {
    "not": {"allOf": [_ENTITY_GIVEN, _non_empty("group_ids")]}
}
#: A job body: not ``entity_id`` (older clients) together with a non-empty
#: ``entity_ids``; a friendly form with both hour and minute. Both schedule forms may
#: come together: the friendly one is the schedule and ``cron_expression`` is then the
#: read-only echo a GET returns beside it (``mapping.schedule_forms``), so a job read
#: back can be sent again (a schema cannot say "both only when they agree").
JOB_BODY_RULES: dict[str, JsonValue] = {
    "allOf": [
        {
            "not": {
                "required": ["entity_id", "entity_ids"],
                "properties": {
                    "entity_id": {"type": "string"},
                    "entity_ids": {"type": "array", "minItems": 1},
                },
            }
        },
        _SCHEDULE_COMPLETE,
        _FRIENDLY_COMPLETE,
    ]
}


def _set(field: str) -> dict[str, JsonValue]:
    """``field`` sent with a value (a null clears it: the same as absent)."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _cleared(field: str) -> dict[str, JsonValue]:
    return {"required": [field], "properties": {field: {"type": "null"}}}


#: ``SPEC_RULES``' fields that need another (suspendReason needs suspendUntil, onExcluded
#: needs calendarRef), as request fields.
NEEDS = (("suspend_reason", "suspend_until"), ("on_excluded", "calendar"))


def _needs(field: str, other: str) -> dict[str, JsonValue]:
    """A new job (or a preview): ``field`` only with ``other``."""
    return {"if": _set(field), "then": _set(other)}


def _kept_for(field: str, other: str) -> dict[str, JsonValue]:
    """An update: ``field`` set, ``other`` not cleared in the same body (left out, the
    stored job decides: a 409 if it has none)."""
    # (``other`` not null if sent: a ``not`` of a type, which test generators read.)
    return {"if": _set(field), "then": {"properties": {other: {"not": {"type": "null"}}}}}


_CONTAINER_TYPE: list[JsonValue] = [TaskType.CONTAINER.value, TaskType.CONTAINER.value.upper()]
#: A new job: what ``ChronosJobSpec`` requires (a task type, a pipeline, a schedule,
#: the ids its task type acts on), besides the rules of every job body.
JOB_CREATE_RULES: dict[str, JsonValue] = {
    "allOf": [
        *JOB_BODY_RULES["allOf"],  # type: ignore[misc]
        {"required": ["task_type"], "properties": {"task_type": {"type": "string"}}},
        # A container task names a container and no pipeline, every other a pipeline:
        # not stated here (with it this operation is past the generator's bound); the
        # server answers 409 (errors.RELATION_RULES).
        # (or several schedules: issue 19). A chain-only job (issue 20: after, no
        # schedule) is accepted by the server but not stated here: a fourth branch put
        # this operation beyond what schemathesis generates (UnsupportedSchema).
        {"anyOf": [_CRON_GIVEN, _FRIENDLY_GIVEN, _non_empty("schedules")]},
        _scope("entity", _ENTITY_GIVEN),
        _NOT_BOTH_SCOPES,
        _scope("group", _non_empty("group_ids")),
        *(_needs(field, other) for field, other in NEEDS),
    ]
}
#: An update: what a job needs may be left out (kept) but not cleared with null: the
#: task type and the pipeline (stated per property: a rule across fields doubles the
#: cases a test generator's canonical form holds, and beyond a bound it gives up on the
#: whole operation), and a schedule (both forms null at once).
_NOT_CLEARED: dict[str, JsonValue] = {
    "properties": {field: {"not": {"type": "null"}} for field in ("task_type", "pipeline_id")}
}
_SCHEDULE_CLEARED: dict[str, JsonValue] = {
    "required": ["schedule", "cron_expression"],
    "properties": {"schedule": {"type": "null"}, "cron_expression": {"type": "null"}},
}
_EMPTY: dict[str, JsonValue] = {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}
#: entity_ids sent empty, and no single entity_id beside it (that one is the list then).
_ENTITY_CLEARED: dict[str, JsonValue] = {
    "required": ["entity_ids"],
    "properties": {"entity_ids": _EMPTY},
    "not": _non_empty("entity_id", "string"),
}
_GROUP_CLEARED: dict[str, JsonValue] = {
    "required": ["group_ids"],
    "properties": {"group_ids": _EMPTY},
}


def _scope_update(scope: str, given: JsonValue, cleared: JsonValue) -> dict[str, JsonValue]:
    """``ChronosJobSpec``'s scope rule where a body decides it alone: with a new task
    type, no ids of another scope, and not its own scope's cleared. (Without a task
    type, the stored one decides: a 409 if it refuses.)"""
    kind: JsonValue = {"pattern": f"^({scope}|{scope.upper()})_"}
    with_type: dict[str, JsonValue] = {"required": ["task_type"]}
    return {
        "allOf": [
            {
                "if": {**with_type, "properties": {"task_type": {"not": kind}}},
                "then": {"not": given},
            },
            {"if": {**with_type, "properties": {"task_type": kind}}, "then": {"not": cleared}},
        ]
    }


JOB_UPDATE_RULES: dict[str, JsonValue] = {
    "allOf": [
        *JOB_BODY_RULES["allOf"],  # type: ignore[misc]
        *(_kept_for(field, other) for field, other in NEEDS),
        {"not": _SCHEDULE_CLEARED},
        _scope_update("entity", _ENTITY_GIVEN, _ENTITY_CLEARED),
        _scope_update("group", _non_empty("group_ids"), _GROUP_CLEARED),
        # Last: in this order the test generator's canonical form stays within its bound
        # (placed before the scope rules, schemathesis could not generate any update).
        _NOT_CLEARED,
        _NOT_BOTH_SCOPES,
    ]
}
#: A preview needs exactly one schedule form: a cron expression, the friendly form with
#: both hour and minute, or several schedules.
_SCHEDULES_SENT: dict[str, JsonValue] = {
    "required": ["schedules"],
    "properties": {"schedules": {"type": "array"}},
}
ONE_SCHEDULE_FORM: dict[str, JsonValue] = {
    "oneOf": [
        {**_CRON_GIVEN, "not": {"anyOf": [_FRIENDLY_SENT, _SCHEDULES_SENT]}},
        {**_FRIENDLY_GIVEN, "not": {"anyOf": [_CRON_SENT, _SCHEDULES_SENT]}},
        {**_non_empty("schedules"), "not": {"anyOf": [_FRIENDLY_SENT, _CRON_SENT]}},
    ]
}


@cache
def known_zones() -> tuple[str, ...]:
    """Every name the schedule engine accepts as a time zone (the tz database's)."""
    out = []
    for name in sorted(available_timezones()):
        try:
            validate_time_zone(name)
        except ScheduleError:
            continue
        out.append(name)
    return tuple(out)


def _zone_name(schema: dict[str, JsonValue]) -> None:
    """``timezone`` is absent, null or a known zone: documented here (built with the
    document, not at import), checked by the schedule engine."""
    schema["enum"] = [*known_zones(), None]


class ScheduleIn(_Body):
    """The friendly schedule: minute and hour on some days of the week."""

    days_of_week: list[str] | None = Field(
        default=None,
        description="monday ... sunday, each at most once; empty or absent means every day.",
        json_schema_extra={"items": {"type": "string", "enum": [d.value for d in Weekday]}},
    )
    hour: JsonInt | None = Field(
        default=None, description="0-23", json_schema_extra=_bounds(Schedule, "hour")
    )
    minute: JsonInt | None = Field(
        default=None, description="0-59", json_schema_extra=_bounds(Schedule, "minute")
    )


# ------------------------------------------------------------ issue 19's time rules
# Documented with the models' bounds and patterns; ChronosJobSpec enforces them.

_TIME: dict[str, JsonValue] = {"format": "date-time", "pattern": RFC3339}
_SCHEDULE_NAME: dict[str, JsonValue] = {
    "pattern": t.SCHEDULE_NAME,
    "minLength": 1,
    "maxLength": t.MAX_SCHEDULE_NAME,
}


#: A schedule's name, not of the form s<number> (the default name of an unnamed one).
_ITEM_NAME: dict[str, JsonValue] = {
    **_SCHEDULE_NAME,
    "not": {"type": "string", "pattern": t.DEFAULT_NAME_PATTERN},
}


def _rrule(schema: dict[str, JsonValue]) -> None:
    schema.update({"pattern": documented_rrule_pattern(), "maxLength": t.MAX_RRULE})


def _given(field: str, kind: str) -> dict[str, JsonValue]:
    """``field`` sent with a value (a null is an absent field)."""
    return {"required": [field], "properties": {field: {"type": kind}}}


_ITEM_FRIENDLY_SENT: dict[str, JsonValue] = {
    "anyOf": [
        _given("days_of_week", "array"),
        _given("hour", "integer"),
        _given("minute", "integer"),
    ]
}
#: ``SCHEDULE_RULES`` of one item: exactly one form (cron, rrule, or the friendly form
#: with both hour and minute); its name's rule is the field's (``_ITEM_NAME``).
SCHEDULE_ITEM_RULES: dict[str, JsonValue] = {
    "anyOf": [
        {
            **_given("cron", "string"),
            "not": {"anyOf": [_given("rrule", "string"), _ITEM_FRIENDLY_SENT]},
        },
        {
            **_given("rrule", "string"),
            "not": {"anyOf": [_given("cron", "string"), _ITEM_FRIENDLY_SENT]},
        },
        {
            "allOf": [_given("hour", "integer"), _given("minute", "integer")],
            "not": {"anyOf": [_given("cron", "string"), _given("rrule", "string")]},
        },
    ],
}


class ScheduleItemIn(_Body):
    """One of several schedules: a cron expression, an RRULE, or the friendly form."""

    model_config = ConfigDict(json_schema_extra=SCHEDULE_ITEM_RULES)

    name: str | None = Field(
        default=None,
        description="Unique in schedules; default s<index>. Not of the form s<number>.",
        json_schema_extra=_ITEM_NAME,
    )
    cron: str | None = Field(default=None, description=CRON_DESCRIPTION, json_schema_extra=_cron)
    rrule: str | None = Field(
        default=None,
        description=(
            "RFC 5545 RRULE (e.g. FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0), optionally "
            "after a line DTSTART:YYYYMMDDTHHMMSS (a wall time, seconds 00). The pattern "
            "states the supported parts in their canonical order: FREQ (YEARLY, MONTHLY, "
            "WEEKLY, DAILY, HOURLY), INTERVAL, COUNT or UNTIL, BYMONTH, BYMONTHDAY, BYDAY, "
            "BYHOUR, BYMINUTE, BYSETPOS, WKST (the server also reads them in any order)."
        ),
        json_schema_extra=_rrule,
    )
    days_of_week: list[str] | None = Field(
        default=None,
        json_schema_extra={"items": {"type": "string", "enum": [d.value for d in Weekday]}},
    )
    hour: JsonInt | None = Field(default=None, json_schema_extra=_bounds(Schedule, "hour"))
    minute: JsonInt | None = Field(default=None, json_schema_extra=_bounds(Schedule, "minute"))


class DstPolicyIO(_Body):
    spring_forward: str | None = Field(
        default=None,
        description="Skip (default) or RunAtNextValidTime.",
        json_schema_extra={"enum": [v.value for v in t.SpringForward]},
    )
    fall_back: str | None = Field(
        default=None,
        description="RunTwice (default) or RunOnce.",
        json_schema_extra={"enum": [v.value for v in t.FallBack]},
    )


class CatchUpIO(_Body):
    policy: str | None = Field(
        default=None,
        description="None (default), Latest or All.",
        json_schema_extra={"enum": [v.value for v in t.CatchUpPolicy]},
    )
    window_seconds: JsonInt | None = Field(
        default=None, json_schema_extra=_bounds(t.CatchUp, "window_seconds")
    )
    max: JsonInt | None = Field(default=None, json_schema_extra=_bounds(t.CatchUp, "max"))


class WaitForIO(_Body):
    """What an entity_wait or group_wait task waits for (``Task.wait_for``)."""

    state: str = Field(
        description="Active, Hold, Error or Warning.",
        json_schema_extra={"enum": [s.value for s in EntityState]},
    )
    timeout_seconds: JsonInt = Field(
        description="How long to wait before the run fails with reason Timeout.",
        json_schema_extra=_bounds(WaitFor, "timeout_seconds"),
    )


class _TimeRules(_Body):
    """The fields of issue 19 (docs/schedules.md); each maps to the spec field of its
    name in camelCase (``chronos.api.timemap``)."""

    schedules: list[ScheduleItemIn] | None = Field(
        default=None,
        description=(
            "Several schedules (1-10), instead of schedule/cron_expression (which a GET "
            "then returns as the first one's echo, ignored when sent back)."
        ),
        json_schema_extra={"minItems": 1, "maxItems": t.MAX_SCHEDULES},
    )
    calendar: str | None = Field(
        default=None,
        description="A ChronosCalendar in the job's namespace (you need get on it).",
        json_schema_extra={"pattern": DNS_SUBDOMAIN, "maxLength": 253},
    )
    on_excluded: str | None = Field(
        default=None,
        description="Skip (default) or NextBusinessDay; needs calendar.",
        json_schema_extra={"enum": [v.value for v in t.OnExcluded]},
    )
    dst_policy: DstPolicyIO | None = None
    jitter_seconds: JsonInt | None = Field(
        default=None,
        description="A per-slot delay of 0 to this many seconds before the run acts.",
        json_schema_extra={"minimum": 0, "maximum": t.MAX_JITTER_SECONDS},
    )
    active_from: str | None = Field(
        default=None, description="RFC 3339; no run before.", json_schema_extra=_TIME
    )
    active_until: str | None = Field(
        default=None, description="RFC 3339; no run after.", json_schema_extra=_TIME
    )
    suspend_until: str | None = Field(
        default=None, description="RFC 3339; suspended until then.", json_schema_extra=_TIME
    )
    suspend_reason: str | None = Field(
        default=None,
        description="Why (one line); needs suspend_until.",
        json_schema_extra={"pattern": NO_CONTROL_CHARS, "maxLength": t.MAX_SUSPEND_REASON},
    )
    catch_up: CatchUpIO | None = None


class UpstreamIO(_Body):
    """A job this one runs after (issue 20)."""

    job: str = Field(
        description=(
            "An upstream ChronosJob's id, in this job's namespace (you need get on the "
            "namespace's ChronosJobs)."
        ),
        json_schema_extra={"pattern": DNS_SUBDOMAIN, "minLength": 1, "maxLength": 253},
    )
    when: str | None = Field(
        default=None,
        description="Succeeded (default), Failed or Completed: which end starts a run.",
        json_schema_extra={"enum": [v.value for v in ChainOn]},
    )


class _JobFields(_TimeRules):
    after: list[UpstreamIO] | None = Field(
        default=None,
        description=(
            "Upstream jobs whose runs' end starts a run of this one (trigger chain); with "
            "it, the schedule may be left out (a chain-only job)."
        ),
        json_schema_extra={"minItems": 1, "maxItems": MAX_UPSTREAMS},
    )
    after_all: bool | None = Field(
        default=None,
        description="Fan-in: one run once every upstream job succeeded since the last run.",
    )
    after_within_seconds: JsonInt | None = Field(
        default=None,
        description="Fan-in window (needs after_all): the successes at most this far apart.",
        json_schema_extra={"minimum": 1, "maximum": MAX_WITHIN_SECONDS},
    )
    concurrency_policy: str | None = Field(
        default=None,
        description="Forbid (default), Allow, Replace or Enqueue: a run due while one is active.",
        json_schema_extra={"enum": [v.value for v in ConcurrencyPolicy]},
    )
    max_queued: JsonInt | None = Field(
        default=None,
        description="Enqueue only: how many runs may wait (absent: 10).",
        json_schema_extra={"minimum": 1, "maximum": MAX_QUEUED},
    )
    description: str | None = Field(
        default=None, description="Free text.", json_schema_extra=MULTI_LINE
    )
    task_type: str | None = Field(
        default=None,
        description="What to do; lower or upper case.",
        json_schema_extra={"enum": TASK_TYPE_VALUES},
    )
    schedule: ScheduleIn | None = Field(
        default=None,
        description=(
            "Friendly schedule; give this or cron_expression. Sent with both (a job read "
            "back), this is the schedule and cron_expression is ignored."
        ),
    )
    cron_expression: str | None = Field(
        default=None,
        description=CRON_DESCRIPTION,
        examples=["30 8 * * 1-5"],
        json_schema_extra=_cron,
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone (e.g. Europe/Rome); absent means the configured default.",
        json_schema_extra=_zone_name,
    )
    pipeline_id: CoreHubId | None = Field(default=None, description="CoreHub pipeline id.")
    entity_ids: list[CoreHubId] | None = Field(
        default=None,
        description="Entity ids; required (non-empty) for entity_* tasks.",
        json_schema_extra={"maxItems": MAX_IDS, "uniqueItems": True},
    )
    entity_id: CoreHubId | None = Field(
        default=None, description="Single entity id (older Chronos clients): same as [entity_id]."
    )
    group_ids: list[CoreHubId] | None = Field(
        default=None,
        description="Entity group ids; required (non-empty) for group_* tasks.",
        json_schema_extra={"maxItems": MAX_IDS, "uniqueItems": True},
    )
    with_snapshot: bool | None = Field(default=None, description="Default false.")
    snapshot_write_method: str | None = Field(
        default=None,
        description="UPSERT (default) or INSERT.",
        json_schema_extra={"enum": [m.value for m in SnapshotWriteMethod]},
    )
    container: ContainerTask | None = Field(
        default=None,
        description=(
            "For task_type container (and only then): the pod to run, as the ChronosJob's "
            "spec.task.container (image, command, args, env, resources, "
            "serviceAccountName, runAsUser). Its author needs the right to create pods, "
            "to get each Secret and ConfigMap it references and to create tokens for its "
            "ServiceAccount (admission answers 403 naming the missing right)."
        ),
    )
    wait_for: WaitForIO | None = Field(
        default=None,
        description="Required for entity_wait and group_wait tasks, absent otherwise.",
    )
    enabled: bool | None = Field(default=None, description="Default true.")

    model_config = ConfigDict(json_schema_extra=JOB_BODY_RULES)

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data


class JobCreate(_JobFields):
    """A new job. ``name`` is free text; the job's ``id`` is derived from it."""

    name: str = Field(
        min_length=1, description="Display name (free text).", json_schema_extra=SINGLE_LINE
    )

    model_config = ConfigDict(
        json_schema_extra={
            **JOB_CREATE_RULES,
            "examples": [
                {
                    "name": "Monday-Wednesday-Friday Job",
                    "task_type": "entity_start",
                    "schedule": {
                        "days_of_week": ["monday", "wednesday", "friday"],
                        "hour": 8,
                        "minute": 30,
                    },
                    "pipeline_id": "pipeline-123",
                    "entity_id": "entity-456",
                }
            ],
        }
    )


class JobUpdate(_JobFields):
    """A partial update: only the fields present change; ``null`` clears optional ones."""

    model_config = ConfigDict(json_schema_extra=JOB_UPDATE_RULES)

    name: str | None = Field(
        default=None, min_length=1, description="Display name.", json_schema_extra=SINGLE_LINE
    )


class StatusIn(_Body):
    enabled: bool


_PARAMETER_IDS: dict[str, JsonValue] = {
    "minItems": 1,
    "maxItems": MAX_PARAMETER_IDS,
    "uniqueItems": True,
}


class RunParametersIn(_Body):
    """Overrides for this one run (``chronos.models.params.RunParameters``): only what the
    job's task type allows, a 422 naming the field otherwise; the job's spec is unchanged."""

    entity_ids: list[CoreHubId] | None = Field(
        default=None,
        description="entity_* tasks: the entities this run acts on, a subset of the job's.",
        json_schema_extra=_PARAMETER_IDS,
    )
    group_ids: list[CoreHubId] | None = Field(
        default=None,
        description="group_* tasks: the groups this run acts on, a subset of the job's.",
        json_schema_extra=_PARAMETER_IDS,
    )
    with_snapshot: bool | None = Field(default=None, description="*_start tasks only.")
    snapshot_write_method: str | None = Field(
        default=None,
        description="*_start, *_snapshot and *_redo tasks only: UPSERT or INSERT.",
        json_schema_extra={"enum": [m.value for m in SnapshotWriteMethod]},
    )
    as_of: str | None = Field(
        default=None,
        description="A logical time (RFC 3339) recorded with the run and passed to the runner.",
        json_schema_extra=_TIME,
    )


class RunNowIn(_Body):
    """Optional body of a run-now: parameters of at most PARAMETERS_MAX_BYTES (compact
    JSON); the same Idempotency-Key with other parameters is a 409."""

    parameters: RunParametersIn | None = None


class PreviewIn(_TimeRules):
    """A schedule to preview: the fields of a job body that decide when it runs."""

    model_config = ConfigDict(
        json_schema_extra={"allOf": [ONE_SCHEDULE_FORM, _needs("on_excluded", "calendar")]}
    )

    schedule: ScheduleIn | None = None
    cron_expression: str | None = Field(
        default=None, description=CRON_DESCRIPTION, json_schema_extra=_cron
    )
    timezone: str | None = Field(default=None, json_schema_extra=_zone_name)
    count: JsonInt = Field(default=5, ge=1, le=100, description="How many run times to list.")
    job_id: str | None = Field(
        default=None,
        description=(
            "The job (existing or to be) the preview is for: H in a cron is hashed from "
            "its namespace, id and schedule name (without it, from a stand-in id: the "
            "minutes shown are not the job's), and @every counts from its last scheduled "
            "time or creation (without it, from now). An existing job is read with your "
            "rights (get)."
        ),
        pattern=JOB_ID,
        max_length=253,
    )


class BackfillIn(_Body):
    """Run the job's slots in a past range, each once, with trigger backfill."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(
        alias="from",
        description="Start of the range (inclusive), RFC 3339.",
        json_schema_extra=_TIME,
    )
    to: str = Field(
        description="End of the range (inclusive), RFC 3339; not in the future.",
        json_schema_extra=_TIME,
    )
    max: JsonInt = Field(
        default=t.MAX_BACKFILL_SLOTS,
        description=(
            f"The range may hold at most this many slots (at most {t.MAX_BACKFILL_SLOTS}); "
            "more is refused, not cut."
        ),
        json_schema_extra=_bounds(t.BackfillRequest, "max"),
    )
