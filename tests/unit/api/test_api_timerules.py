"""Issue 19's time rules through the REST facade's pure translations: snake_case
request fields onto the camelCase spec and back, and their errors naming the request
field (``chronos.api.timemap``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from builders import chronosjob

from chronos.api.answers import JobOut, RunRecordOut
from chronos.api.errors import ProblemError
from chronos.api.mapping import apply_request, job_view
from chronos.api.schemas import JobCreate, JobUpdate
from chronos.api.services import validate_spec
from chronos.models.wire import ChronosJobDict

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BASE = {"name": "Orders", "task_type": "pipeline_start", "pipeline_id": "p1"}
RULES: dict[str, Any] = {
    "calendar": "it-holidays",
    "on_excluded": "NextBusinessDay",
    "dst_policy": {"spring_forward": "RunAtNextValidTime", "fall_back": "RunOnce"},
    "jitter_seconds": 30,
    "active_from": "2030-01-01T00:00:00Z",
    "active_until": "2031-01-01T00:00:00+01:00",
    "suspend_until": "2030-02-01T00:00:00Z",
    "suspend_reason": "freeze",
    "catch_up": {"policy": "All", "window_seconds": 7200, "max": 3},
}
SPEC_RULES: dict[str, Any] = {
    "calendarRef": {"name": "it-holidays"},
    "onExcluded": "NextBusinessDay",
    "dstPolicy": {"springForward": "RunAtNextValidTime", "fallBack": "RunOnce"},
    "jitterSeconds": 30,
    "activeFrom": "2030-01-01T00:00:00Z",
    "activeUntil": "2031-01-01T00:00:00+01:00",
    "suspendUntil": "2030-02-01T00:00:00Z",
    "suspendReason": "freeze",
    "catchUp": {"policy": "All", "windowSeconds": 7200, "max": 3},
}


def _sent(body: dict[str, Any]) -> dict[str, Any]:
    model = JobCreate if "name" in body else JobUpdate
    return model.model_validate(body).model_dump(exclude_unset=True)


def test_every_time_rule_maps_to_its_spec_field() -> None:
    out = apply_request({}, _sent({**BASE, "cron_expression": "0 2 * * *", **RULES}))
    assert {k: v for k, v in out.items() if k in SPEC_RULES} == SPEC_RULES
    assert validate_spec(out, "UTC").jitter_seconds == 30


def test_schedules_replace_schedule_and_the_echo_is_ignored() -> None:
    items = [
        {"name": "night", "cron": "0 2 * * *"},
        {"days_of_week": ["Monday"], "hour": 8, "minute": 0},
    ]
    stored = apply_request({}, _sent({**BASE, "cron_expression": "0 3 * * *"}))
    # A job read back (cron_expression is the first schedule's echo) and sent again.
    out = apply_request(stored, _sent({"schedules": items, "cron_expression": "0 9 * * *"}))
    assert "schedule" not in out
    assert out["schedules"] == [
        {"name": "night", "cron": "0 2 * * *"},
        {"daysOfWeek": ["monday"], "hour": 8, "minute": 0},
    ]
    # Back to one schedule: the list goes.
    single = apply_request(out, _sent({"cron_expression": "0 4 * * *"}))
    assert single["schedule"] == {"cron": "0 4 * * *"}
    assert "schedules" not in single


def test_null_clears_a_rule() -> None:
    stored = apply_request({}, _sent({**BASE, "cron_expression": "0 2 * * *", **RULES}))
    cleared = apply_request(stored, {"calendar": None, "on_excluded": None, "catch_up": None})
    assert not {"calendarRef", "onExcluded", "catchUp"} & set(cleared)
    assert cleared["jitterSeconds"] == 30


def test_the_view_returns_what_was_sent() -> None:
    items = [{"name": "night", "cron": "0 2 * * *"}, {"rrule": "FREQ=WEEKLY;BYDAY=TU"}]
    spec = apply_request({}, _sent({**BASE, "schedules": items, **RULES}))
    view, _ = job_view(cast(ChronosJobDict, chronosjob(spec=dict(spec))), "UTC", NOW)
    for key, value in RULES.items():
        assert view[key] == value, key
    assert view["schedules"] == items
    assert view["schedule"] is None
    JobOut.model_validate(view)  # the response model takes it
    plain, _ = job_view(
        cast(
            ChronosJobDict,
            chronosjob(
                spec=dict(apply_request({}, _sent({**BASE, "cron_expression": "0 2 * * *"})))
            ),
        ),
        "UTC",
        NOW,
    )
    assert all(plain[key] is None for key in [*RULES, "schedules"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jitter_seconds": 3601}, "jitter_seconds"),
        ({"calendar": "Bad_Name"}, "calendar"),
        ({"on_excluded": "Skip"}, "on_excluded"),  # without a calendar
        ({"dst_policy": {"fall_back": "Thrice"}}, "dst_policy.fall_back"),
        ({"catch_up": {"window_seconds": 10}}, "catch_up.window_seconds"),
        ({"suspend_until": "tomorrow"}, "suspend_until"),
        ({"suspend_reason": "why"}, "suspend_reason"),
    ],
)
def test_a_bad_rule_is_a_422_naming_the_request_field(body: dict[str, Any], field: str) -> None:
    spec = apply_request({}, _sent({**BASE, "cron_expression": "0 2 * * *", **body}))
    with pytest.raises(ProblemError) as info:
        validate_spec(spec, "UTC")
    assert info.value.status == 422
    assert [f for f, _ in info.value.errors or []] == [field]


def test_a_bad_item_of_schedules_names_it() -> None:
    bad = [{"cron": "0 1 * * *"}, {"name": "x", "cron": "* * * * *"}]
    spec = apply_request({}, _sent({**BASE, "schedules": bad}))
    with pytest.raises(ProblemError) as info:
        validate_spec(spec, "UTC", min_interval_seconds=300)
    assert [f for f, _ in info.value.errors or []] == ["schedules[1].cron"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"active_from": "2030-01-02T00:00:00Z", "active_until": "2030-01-01T00:00:00Z"},
            "active_until",
        ),
        (
            {
                "schedules": [
                    {"name": "a", "cron": "0 1 * * *"},
                    {"name": "a", "cron": "0 2 * * *"},
                ]
            },
            "schedules",
        ),
    ],
)
def test_values_conflicting_with_each_other_are_a_409_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    """An order or a uniqueness between two values: no JSON Schema can state it, so the
    document cannot, and the answer is the 409 of a body the document allows but the
    server cannot serve (docs/api.md, "Errors")."""
    spec = apply_request({}, _sent({**BASE, "cron_expression": "0 2 * * *", **body}))
    with pytest.raises(ProblemError) as info:
        validate_spec(spec, "UTC")
    assert info.value.status == 409
    assert [f for f, _ in info.value.errors or []] == [field]
    # With a fault the document states, that fault's 422.
    spec["jitterSeconds"] = 3601
    with pytest.raises(ProblemError) as info:
        validate_spec(spec, "UTC")
    assert info.value.status == 422
    assert [f for f, _ in info.value.errors or []] == ["jitter_seconds"]


def test_run_records_carry_the_slot() -> None:
    record = RunRecordOut.model_validate(
        {
            "run_id": "r",
            "trigger": "backfill",
            "result": "skipped",
            "schedule": "night",
            "calendar": "it-holidays",
            "slot_wall_time": "2026-10-25T02:30:00",
            "slot_offset": "+02:00",
        }
    )
    assert record.slot_offset == "+02:00"
    assert record.calendar == "it-holidays"
