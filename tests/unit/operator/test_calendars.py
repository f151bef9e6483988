"""The operator's ChronosCalendar cache: the pure parts (status, messages, index,
midnights). Reading the .ics ConfigMap and writing the status are in
tests/cluster/test_calendars.py, against the real control plane."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest

from chronos.operator.calendars import (
    ICS_INVALID,
    Calendars,
    CalendarUnusableError,
    Resolved,
    calendar_status,
    from_spec,
    next_midnight,
)
from chronos.schedule.calendar import Calendar

NOW = datetime(2026, 12, 23, 10, 0, tzinfo=UTC)


def _calendar_obj(name: str, spec: dict[str, Any], status: Any = None) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name, "generation": 1},
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("ics", "secret"),
    [
        # An unreadable date: the engine's reason quotes it; the status must not.
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:TOPSECRET\nEND:VEVENT\n"
            "END:VCALENDAR\n",
            "TOPSECRET",
        ),
        # A repeat rule other than yearly: the reason quotes its FREQ.
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n"
            "RRULE:FREQ=HUSHHUSH\nEND:VEVENT\nEND:VCALENDAR\n",
            "HUSHHUSH",
        ),
        # Unsupported parts: the reason lists them.
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n"
            "RRULE:FREQ=YEARLY;XSECRETPART=1\nEND:VEVENT\nEND:VCALENDAR\n",
            "XSECRETPART",
        ),
    ],
)
def test_an_invalid_ics_names_the_line_and_never_its_content(ics: str, secret: str) -> None:
    spec = {"ics": {"configMapRef": {"name": "holidays-ics", "key": "de.ics"}}}
    with pytest.raises(CalendarUnusableError) as caught:
        from_spec("holidays", spec, ics)
    problem = caught.value
    assert problem.reason == ICS_INVALID
    assert "line 3" in problem.message or "line 4" in problem.message
    assert "ConfigMap holidays-ics, key de.ics" in problem.message
    assert secret not in problem.message


def test_an_invalid_spec_names_the_field() -> None:
    with pytest.raises(CalendarUnusableError) as caught:
        from_spec("bad", {"excludedDates": ["2026-13-40"]})
    assert caught.value.reason == "CalendarInvalid"
    assert "spec.excludedDates.0" in caught.value.message
    assert "2026-13-40" not in caught.value.message


def test_status_lists_the_next_excluded_days_in_the_zone_and_is_written_once() -> None:
    calendar = Calendar("c", dates=frozenset({date(2026, 12, 24), date(2026, 12, 31)}))
    resolved = Resolved(calendar=calendar)
    # 23:30 UTC on the 23rd is already the 24th in Tokyo: the 24th is "ahead" there.
    late = datetime(2026, 12, 23, 23, 30, tzinfo=UTC)
    status = calendar_status(None, resolved, generation=1, zone="Asia/Tokyo", now=late)
    assert status is not None
    assert status["excludedDaysAhead"] == ["2026-12-24", "2026-12-31"]
    (ready,) = status["conditions"]
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "True",
        "CalendarRead",
        1,
    )
    # The same status an hour later: nothing to write.
    later = datetime(2026, 12, 24, 0, 30, tzinfo=UTC)
    assert calendar_status(status, resolved, generation=1, zone="Asia/Tokyo", now=later) is None
    # The 24th passed in Tokyo: the list moves on.
    next_day = datetime(2026, 12, 24, 15, 30, tzinfo=UTC)
    moved = calendar_status(status, resolved, generation=1, zone="Asia/Tokyo", now=next_day)
    assert moved is not None
    assert moved["excludedDaysAhead"] == ["2026-12-31"]
    assert moved["conditions"][0]["lastTransitionTime"] == ready["lastTransitionTime"]


def test_a_problem_sets_ready_false_and_clears_the_days() -> None:
    good = calendar_status(
        None,
        Resolved(calendar=Calendar("c", weekdays=frozenset({5}))),
        generation=1,
        zone="UTC",
        now=NOW,
    )
    assert good is not None
    assert len(good["excludedDaysAhead"]) == 10
    problem = CalendarUnusableError("ConfigMapMissing", "calendar c: ConfigMap x with key y ...")
    later = datetime(2026, 12, 23, 11, 0, tzinfo=UTC)
    bad = calendar_status(good, Resolved(problem=problem), generation=2, zone="UTC", now=later)
    assert bad is not None
    (ready,) = bad["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "ConfigMapMissing")
    assert ready["lastTransitionTime"] == "2026-12-23T11:00:00Z"
    assert bad["excludedDaysAhead"] == []
    assert bad["observedGeneration"] == 2


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (datetime(2026, 12, 23, 10, 0, tzinfo=UTC), "UTC", datetime(2026, 12, 24, tzinfo=UTC)),
        # New York's day after the fall-back (a 25-hour day) starts at 05:00 UTC.
        (
            datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
        ),
        # Just before the midnight that starts the DST day in New York (still EDT before).
        (
            datetime(2026, 3, 8, 4, 59, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
        ),
    ],
)
def test_the_next_midnight_is_the_zones(now: datetime, zone: str, expected: datetime) -> None:
    assert next_midnight(now, zone) == expected


def test_the_index_queues_each_job_that_uses_a_changed_calendar_once() -> None:
    cals = Calendars()
    queued: list[tuple[str, str]] = []
    changed: list[tuple[str, str]] = []
    cals.requeue, cals.changed = queued.append, changed.append
    cals.job_event("ns", "a", {"calendarRef": {"name": "hol"}})
    cals.job_event("ns", "b", {"calendarRef": {"name": "hol"}})
    cals.job_event("ns", "c", {"calendarRef": {"name": "other"}})
    cals.job_event("other-ns", "d", {"calendarRef": {"name": "hol"}})
    cals.job_event("ns", "b", {"calendarRef": {"name": "other"}})  # moved to another
    assert cals.users("ns", "hol") == {"a"}
    assert cals.users("ns", "other") == {"b", "c"}
    cals.job_event("ns", "c", None)  # deleted
    assert cals.users("ns", "other") == {"b"}

    obj = _calendar_obj("hol", {"excludedDates": ["2026-12-24"]})
    cals.upsert(obj)
    assert changed == [("ns", "hol")]
    cals.upsert({**obj, "status": {"excludedDaysAhead": ["2026-12-24"]}})
    assert changed == [("ns", "hol")]  # a status write is not news
    cals.upsert({**obj, "spec": {"excludedDates": ["2026-12-25"]}})
    assert changed == [("ns", "hol"), ("ns", "hol")]
    cals.delete(obj)
    assert queued == [("ns", "a")]
    cals.upsert(obj)
    cals.resync("ns", set())  # deleted while the watch was broken
    assert queued == [("ns", "a"), ("ns", "a")]


def test_a_calendar_is_parsed_once_per_spec_and_answers_from_the_cache() -> None:
    cals = Calendars()
    client = cast(Any, None)  # no .ics: resolving does no I/O
    with pytest.raises(CalendarUnusableError) as caught:
        asyncio.run(cals.resolve(client, "ns", "hol"))
    assert caught.value.reason == "CalendarMissing"
    cals.upsert(_calendar_obj("hol", {"excludedDates": ["2026-12-24"], "timeZone": "UTC"}))
    assert cals.cached("ns", "hol") is None  # not resolved yet
    first = asyncio.run(cals.resolve(client, "ns", "hol"))
    assert first.dates == frozenset({date(2026, 12, 24)})
    assert first.zone == "UTC"
    assert cals.cached("ns", "hol") is first
    assert asyncio.run(cals.resolve(client, "ns", "hol")) is first  # not parsed again
    cals.upsert(_calendar_obj("hol", {"excludedDates": ["2026-12-25"]}))
    assert cals.cached("ns", "hol") is None  # the old parse is not the new spec's
    second = asyncio.run(cals.resolve(client, "ns", "hol"))
    assert second.dates == frozenset({date(2026, 12, 25)})
