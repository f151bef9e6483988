"""The OpenAPI document refuses the job bodies the server refuses for their own sake,
and takes the ones it takes.

Each case was found by schemathesis' stateful phase (issue 17, finding 12): a body the
document allowed yet answered 422 whatever job it was sent to, or (the entity ids case)
one the document refused yet the server rightly took. Each pairs a refused body with
the nearest one the server takes.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from pydantic import ValidationError

from chronos.api.app import create_app
from chronos.api.errors import ProblemError, request_field, request_problem
from chronos.api.mapping import RequestShapeError, apply_request
from chronos.api.previews import ScheduleService
from chronos.api.runs import _check_range
from chronos.api.schemas import BackfillIn, JobCreate, PreviewIn
from chronos.api.services import _against_stored, validate_spec
from chronos.api.settings import ApiSettings

DOCUMENT = create_app(ApiSettings()).openapi()


def _valid(schema_name: str, body: dict[str, Any]) -> bool:
    """``body`` against the document's schema, as schemathesis reads it (OpenAPI 3.1 is
    JSON Schema 2020-12)."""
    schema = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": DOCUMENT["components"],
    }
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


def _answer(body: dict[str, Any], spec: dict[str, Any]) -> int:
    """The status the server's mapping and validation give ``body`` sent onto the
    stored ``spec`` (200: taken)."""
    try:
        validate_spec(apply_request(copy.deepcopy(spec), body), "UTC", 60)
    except ProblemError as exc:
        return exc.status
    except RequestShapeError:
        return 422
    return 200


def _server_takes(body: dict[str, Any], spec: dict[str, Any]) -> bool:
    return _answer(body, spec) == 200


#: A new job's fields besides its schedule.
NEW = {"name": "n", "task_type": "pipeline_start", "pipeline_id": "p"}
ENTITY_JOB = {
    "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]},
    "schedule": {"cron": "0 0 * * *"},
}
GROUP_JOB = {
    "task": {"type": "group_start", "pipelineId": "p", "groupIds": ["g"]},
    "schedule": {"cron": "0 0 * * *"},
}

NEW_ENTITY_JOB = {
    "name": "n",
    "task_type": "entity_start",
    "pipeline_id": "p",
    "cron_expression": "0 0 * * *",
}

#: Issue 20: a wait task and what it waits for.
NEW_WAIT_JOB = {
    "name": "n",
    "task_type": "entity_wait",
    "pipeline_id": "p",
    "entity_ids": ["e"],
    "cron_expression": "0 0 * * *",
}
WAIT_FOR = {"state": "Active", "timeout_seconds": 60}

CASES = [
    pytest.param(
        "JobCreate",
        {**NEW_WAIT_JOB, "wait_for": {**WAIT_FOR, "state": "Busy"}},
        {**NEW_WAIT_JOB, "wait_for": {**WAIT_FOR, "state": "Warning"}},
        {},
        id="wait-for-unknown-state",
    ),
    pytest.param(
        "JobCreate",
        {**NEW_WAIT_JOB, "wait_for": {**WAIT_FOR, "timeout_seconds": 0}},
        {**NEW_WAIT_JOB, "wait_for": {**WAIT_FOR, "timeout_seconds": 1}},
        {},
        id="wait-for-zero-seconds",
    ),
    pytest.param(
        "JobCreate",
        {**NEW_ENTITY_JOB, "entity_ids": [], "entity_id": "0", "group_ids": ["g1", "g2"]},
        {**NEW_ENTITY_JOB, "entity_ids": [], "entity_id": "0"},
        {},
        id="entity-and-group-ids-together",
    ),
    pytest.param(
        "JobUpdate",
        {"entity_ids": ["e"], "group_ids": ["g"]},
        {"entity_ids": ["e"], "group_ids": []},
        ENTITY_JOB,
        id="update-without-task-type-with-both-scopes",
    ),
    pytest.param(
        "JobUpdate",
        {"task_type": "entity_redo", "entity_ids": []},
        {"task_type": "entity_redo", "entity_ids": [], "entity_id": "e"},
        ENTITY_JOB,
        id="entity-ids-cleared-on-an-entity-task",
    ),
    pytest.param(
        "JobCreate",
        {
            "name": "n",
            "task_type": "ENTITY_STOP",
            "pipeline_id": "0",
            "entity_id": "e",
            "cron_expression": "@monthly",
            "schedule": {"days_of_week": ["monday"], "hour": 15},
        },
        {
            "name": "n",
            "task_type": "ENTITY_STOP",
            "pipeline_id": "0",
            "entity_id": "e",
            "cron_expression": "@monthly",
            "schedule": {"days_of_week": ["monday"], "hour": 15, "minute": 0},
        },
        {},
        id="friendly-form-without-minute-beside-cron",
    ),
    # Issue 19's time rules (schemathesis, seed 17): each item of schedules gives
    # exactly one form, ...
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"cron": "0 0 * * *", "hour": 1, "minute": 2}]},
        {**NEW, "schedules": [{"cron": "0 0 * * *"}, {"hour": 1, "minute": 2}]},
        {},
        id="schedule-item-with-two-forms",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{}, {"cron": "0 0 * * *"}]},
        {**NEW, "schedules": [{"cron": "0 0 * * *"}]},
        {},
        id="schedule-item-without-a-form",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"hour": 22, "cron": None}]},
        {**NEW, "schedules": [{"hour": 22, "minute": 0, "cron": None}]},
        {},
        id="schedule-item-friendly-without-minute",
    ),
    # ... is not named like an unnamed schedule (s<number>) ...
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"name": "s1", "cron": "0 0 * * *"}]},
        {**NEW, "schedules": [{"name": "s1x", "cron": "0 0 * * *"}]},
        {},
        id="schedule-named-s-number",
    ),
    # ... and an RRULE is one the engine reads (the document's grammar: FREQ first).
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"rrule": "b=X100IN"}]},
        {**NEW, "schedules": [{"rrule": "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0"}]},
        {},
        id="rrule-with-unknown-parts",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"rrule": "FREQ=WEEKLY;BYDAY=2TU"}]},
        {**NEW, "schedules": [{"rrule": "FREQ=MONTHLY;BYDAY=2TU"}]},
        {},
        id="rrule-ordinal-under-weekly",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"rrule": "DTSTART:20260101T093015\nFREQ=DAILY"}]},
        {**NEW, "schedules": [{"rrule": "DTSTART:20260101T093000\nFREQ=DAILY"}]},
        {},
        id="rrule-dtstart-with-seconds",
    ),
    # Fields that need another one, when the body decides alone.
    pytest.param(
        "JobCreate",
        {**NEW, "schedules": [{"cron": "0 0 * * *"}], "suspend_reason": "maintenance"},
        {
            **NEW,
            "schedules": [{"cron": "0 0 * * *"}],
            "suspend_reason": "maintenance",
            "suspend_until": "2099-01-01T00:00:00Z",
        },
        {},
        id="create-suspend-reason-without-until",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "cron_expression": "0 0 * * *", "on_excluded": "Skip"},
        {**NEW, "cron_expression": "0 0 * * *", "on_excluded": "Skip", "calendar": "holidays"},
        {},
        id="create-on-excluded-without-calendar",
    ),
    pytest.param(
        "JobUpdate",
        {"suspend_reason": "maintenance", "suspend_until": None},
        {"suspend_reason": "maintenance"},
        {**ENTITY_JOB, "suspendUntil": "2099-01-01T00:00:00Z"},
        id="update-suspend-reason-with-until-cleared",
    ),
    pytest.param(
        "JobUpdate",
        {"on_excluded": "NextBusinessDay", "calendar": None},
        {"on_excluded": "NextBusinessDay"},
        {**ENTITY_JOB, "calendarRef": {"name": "holidays"}},
        id="update-on-excluded-with-calendar-cleared",
    ),
]


@pytest.mark.parametrize(("schema", "refused", "taken", "stored"), CASES)
def test_the_document_refuses_what_every_job_refuses(
    schema: str, refused: dict[str, Any], taken: dict[str, Any], stored: dict[str, Any]
) -> None:
    for job in (ENTITY_JOB, GROUP_JOB, {}):
        assert _answer(refused, job) == 422
    assert not _valid(schema, refused)
    assert _server_takes(taken, stored)
    assert _valid(schema, taken)


#: Bodies the document allows, refused for what no JSON Schema can state: an order or a
#: uniqueness between two of its values, or the job stored (which the document cannot
#: know). A 409, never a 422 (docs/api.md, "Errors").
CONFLICTS = [
    # Issue 20: the task type and wait_for (errors.RELATION_RULES says why not a 422).
    pytest.param("JobCreate", NEW_WAIT_JOB, {}, id="wait-without-wait-for"),
    pytest.param(
        "JobCreate",
        {**NEW_WAIT_JOB, "task_type": "GROUP_WAIT", "entity_ids": None, "group_ids": ["g"]},
        {},
        id="upper-case-group-wait-without-wait-for",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "cron_expression": "0 0 * * *", "wait_for": WAIT_FOR},
        {},
        id="wait-for-on-a-start",
    ),
    pytest.param("JobUpdate", {"task_type": "entity_wait"}, ENTITY_JOB, id="update-to-a-wait"),
    pytest.param(
        "JobCreate",
        {
            **NEW,
            "cron_expression": "0 0 * * *",
            "active_from": "2000-01-01T00:00:00Z",
            "active_until": "2000-01-01T00:00:00Z",
        },
        {},
        id="window-from-not-before-until",
    ),
    pytest.param(
        "JobCreate",
        {
            **NEW,
            "schedules": [
                {"name": "a", "cron": "0 0 * * *"},
                {"name": "a", "hour": 1, "minute": 0},
            ],
        },
        {},
        id="schedule-names-twice",
    ),
    pytest.param(
        "JobUpdate", {"suspend_reason": "maintenance"}, ENTITY_JOB, id="reason-no-until-stored"
    ),
    pytest.param(
        "JobUpdate", {"on_excluded": "Skip"}, GROUP_JOB, id="on-excluded-no-calendar-stored"
    ),
    pytest.param(
        "JobUpdate",
        {"task_type": "GROUP_STOP", "after": [{"job": "u"}], "after_within_seconds": 60},
        ENTITY_JOB,
        id="fan-in-window-no-fan-in-stored",  # the full schemathesis run's ST202
    ),
    pytest.param(
        "JobUpdate",
        {"suspend_until": None},
        {**ENTITY_JOB, "suspendUntil": "2099-01-01T00:00:00Z", "suspendReason": "why"},
        id="until-cleared-reason-stored",
    ),
    # The stateful run's ST202 (seed 33): the fan-in rules on a new job.
    pytest.param(
        "JobCreate",
        {**NEW, "cron_expression": "0 0 * * *", "after": [{"job": "u"}], "after_within_seconds": 9},
        {},
        id="fan-in-window-without-after-all",
    ),
    pytest.param(
        "JobCreate",
        {**NEW, "cron_expression": "0 0 * * *", "after_all": True},
        {},
        id="after-all-without-after",
    ),
]


@pytest.mark.parametrize(("schema", "body", "stored"), CONFLICTS)
def test_what_no_schema_can_state_is_a_409(
    schema: str, body: dict[str, Any], stored: dict[str, Any]
) -> None:
    assert _valid(schema, body)
    if schema == "JobUpdate":
        # Through the service's judgement of a partial update against the stored job.
        try:
            validate_spec(apply_request(copy.deepcopy(stored), body), "UTC", 60)
        except ProblemError as exc:
            status = _against_stored(exc, body, "UTC", 60).status
        else:
            status = 200
    else:
        status = _answer(body, stored)
    assert status == 409


def test_a_backfill_range_the_document_allows_is_never_a_422() -> None:
    """from = to (schemathesis' finding), from after to, a range in the future or more
    than a year ago: allowed by the document (no schema compares two times, or a time
    with the clock), answered 409 naming the field."""
    now = datetime(2026, 3, 28, 12, tzinfo=UTC)
    for body, field in (
        ({"from": "2000-01-01T00:00:00Z", "to": "2000-01-01T00:00:00Z"}, "from"),
        ({"from": "2026-03-27T00:00:00Z", "to": "2026-03-26T00:00:00Z"}, "from"),
        ({"from": "2026-03-27T00:00:00Z", "to": "2027-01-01T00:00:00Z"}, "to"),
    ):
        assert _valid("BackfillIn", body)
        with pytest.raises(ProblemError) as info:
            _check_range(BackfillIn.model_validate(body), now)
        assert info.value.status == 409
        assert field in [f for f, _ in info.value.errors or []]
    bad = {"from": "2026-03-27", "to": "2026-03-28T00:00:00Z"}
    assert not _valid("BackfillIn", bad)
    with pytest.raises(ProblemError) as info:
        _check_range(BackfillIn.model_validate(bad), now)
    assert info.value.status == 422


def test_a_preview_with_a_calendar_nobody_can_read_is_taken() -> None:
    """An unknown or forbidden calendar is not the body's fault: the document takes the
    body, and the preview is shown (without the calendar's days) with a warning."""
    body = {"cron_expression": "0 1 * * *", "calendar": "0", "on_excluded": "Skip"}
    assert _valid("PreviewIn", body)
    assert not _valid("PreviewIn", {"cron_expression": "0 1 * * *", "on_excluded": "Skip"})
    out = ScheduleService("UTC").preview(
        PreviewIn.model_validate(body),
        datetime(2026, 3, 28, 12, tzinfo=UTC),
        warnings=["no ChronosCalendar"],
    )
    assert out.warnings == ["no ChronosCalendar"]
    assert out.next_run_times[0] == "2026-03-29T01:00:00Z"


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("schedules", 0, "cron"), "schedules[0].cron"),
        (("schedules", 2, "daysOfWeek", 1), "schedules[2].days_of_week[1]"),
        (("schedules[3]", "rrule"), "schedules[3].rrule"),
        (("task", "entityIds", 0), "entity_ids[0]"),
        (("schedule", "cron"), "cron_expression"),
    ],
)
def test_an_index_follows_the_list_it_indexes(loc: tuple[str | int, ...], field: str) -> None:
    assert request_field(loc) == field


def test_a_preview_with_schedules_takes_empty_echoes_of_the_single_forms() -> None:
    """schemathesis: schedules beside ``"schedule": {}`` and ``"cron_expression": null``
    (forms that say nothing, as the document reads them) was a 422."""
    body: dict[str, Any] = {
        "schedules": [{"hour": 1, "minute": 0}],
        "schedule": {},
        "cron_expression": None,
    }
    assert _valid("PreviewIn", body)
    out = ScheduleService("UTC").preview(
        PreviewIn.model_validate(body), datetime(2026, 3, 28, 12, tzinfo=UTC)
    )
    assert out.next_run_times[0] == "2026-03-29T01:00:00Z"
    said = {**body, "schedule": {"hour": 2, "minute": 0}}
    assert not _valid("PreviewIn", said)
    with pytest.raises(ProblemError) as info:
        ScheduleService("UTC").preview(PreviewIn.model_validate(said))
    assert info.value.status == 422


def test_a_backfill_time_may_write_t_and_z_in_lower_case() -> None:
    """RFC 3339 (5.6) allows ``t`` and ``z``; the document's pattern does; schemathesis
    sent them and got a 422."""
    body = {"from": "2026-03-26t00:00:00z", "to": "2026-03-27t00:00:00.632592z"}
    assert _valid("BackfillIn", body)
    start, _ = _check_range(BackfillIn.model_validate(body), datetime(2026, 3, 28, tzinfo=UTC))
    assert start == datetime(2026, 3, 26, tzinfo=UTC)


def test_a_wait_task_without_wait_for_names_the_field() -> None:
    with pytest.raises(ProblemError) as info:
        validate_spec(apply_request({}, NEW_WAIT_JOB), "UTC", 60)
    assert info.value.status == 409
    assert [field for field, _ in info.value.errors or []] == ["wait_for"]


#: A container job as the stateful run sent it (seed 33): which env sources are set,
#: and runAsUser as JSON's 215.0.
CONTAINER = {"image": "registry.example/tool:1", "runAsUser": 215.0}
CONTAINER_JOB = {"name": "c", "task_type": "container", "cron_expression": "0 0 * * *"}


def _parsed(body: dict[str, Any]) -> int:
    """The status the server gives a create ``body``: FastAPI's parse into JobCreate
    (answered by ``request_problem``), then the mapping and the spec's validation."""
    try:
        JobCreate.model_validate(body)
    except ValidationError as exc:
        return request_problem(exc.errors()).status
    return _answer(body, {})


@pytest.mark.parametrize(
    ("env", "status"),
    [
        pytest.param([{"name": "A", "value": "1"}], 200, id="one-source"),
        pytest.param(
            [{"name": "A", "value": "1", "configMapKeyRef": {"name": "m", "key": "k"}}],
            409,
            id="two-sources",
        ),
        pytest.param([{"name": "A"}], 409, id="no-source"),
        pytest.param([{"name": "CHRONOS_X", "value": "1"}], 422, id="reserved-name"),
    ],
)
def test_a_container_env_source_rule_is_a_409_the_document_cannot_state(
    env: list[dict[str, Any]], status: int
) -> None:
    body = {**CONTAINER_JOB, "container": {**CONTAINER, "env": env}}
    assert _valid("JobCreate", body)
    assert _parsed(body) == status


def test_a_preview_for_a_job_id_the_document_refuses_is_refused() -> None:
    """The stateful run's ST201 (seed 42): the document's pattern for ``job_id`` was not
    the model's, so the server previewed for ``0*``."""
    body = {"cron_expression": "0 0 * * *", "job_id": "0*"}
    assert not _valid("PreviewIn", body)
    with pytest.raises(ValidationError) as refused:
        PreviewIn.model_validate(body)
    assert request_problem(refused.value.errors()).errors == [
        ("job_id", "String should match pattern '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$'")
    ]
    assert _valid("PreviewIn", {**body, "job_id": "orders-1"})
    PreviewIn.model_validate({**body, "job_id": "orders-1"})
