"""DST policies on wall times (chronos.schedule.dst)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.schedule import ScheduleError
from chronos.schedule.dst import check_policies, instants, transitions, wall_kind

ROME = ZoneInfo("Europe/Rome")
# 2026: clocks go forward on 29 March 02:00 -> 03:00 and back on 25 October 03:00 -> 02:00.
GAP = datetime(2026, 3, 29, 2, 30)
REPEATED = datetime(2026, 10, 25, 2, 30)
ZONES = ["Europe/Rome", "America/New_York", "Australia/Lord_Howe", "America/Havana", "UTC"]


def test_an_ordinary_wall_time_runs_once_under_every_policy() -> None:
    wall = datetime(2026, 6, 1, 2, 30)
    for spring in ("Skip", "RunAtNextValidTime"):
        for fall in ("RunTwice", "RunOnce"):
            assert instants(wall, ROME, spring, fall) == [datetime(2026, 6, 1, 0, 30, tzinfo=UTC)]


def test_spring_forward_skip_and_run_at_next_valid_time() -> None:
    assert wall_kind(GAP, ROME) == "gap"
    assert instants(GAP, ROME, "Skip", "RunTwice") == []
    # 02:30 does not exist: it runs when the clocks jump, 03:00 CEST = 01:00 UTC.
    assert instants(GAP, ROME, "RunAtNextValidTime", "RunTwice") == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    ]


def test_fall_back_run_twice_and_run_once() -> None:
    assert wall_kind(REPEATED, ROME) == "repeated"
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert instants(REPEATED, ROME, "Skip", "RunTwice") == [first, second]
    assert instants(REPEATED, ROME, "Skip", "RunOnce") == [first]


def test_lord_howe_half_hour_shift() -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    # 2026-10-04 02:00 -> 02:30 (+10:30 -> +11:00).
    assert instants(datetime(2026, 10, 4, 2, 15), zone, "Skip", "RunTwice") == []
    (at,) = instants(datetime(2026, 10, 4, 2, 15), zone, "RunAtNextValidTime", "RunTwice")
    assert at.astimezone(zone).replace(tzinfo=None) == datetime(2026, 10, 4, 2, 30)


@settings(max_examples=200, deadline=None)
@given(
    wall=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    zone=st.sampled_from(ZONES),
    spring=st.sampled_from(["Skip", "RunAtNextValidTime"]),
    fall=st.sampled_from(["RunTwice", "RunOnce"]),
)
def test_every_instant_reads_back_as_its_wall_time_or_ends_the_gap(
    wall: datetime, zone: str, spring: str, fall: str
) -> None:
    tz = ZoneInfo(zone)
    found = instants(wall, tz, spring, fall)
    kind = wall_kind(wall, tz)
    assert found == sorted(found)
    assert all(i.tzinfo is UTC for i in found)
    if kind == "normal":
        assert len(found) == 1
        assert found[0].astimezone(tz).replace(tzinfo=None) == wall
    elif kind == "repeated":
        assert len(found) == (2 if fall == "RunTwice" else 1)
        assert all(i.astimezone(tz).replace(tzinfo=None) == wall for i in found)
    else:
        assert len(found) == (0 if spring == "Skip" else 1)
        for at in found:
            # The first instant after the gap: a second earlier the clock read before
            # the wall time, at it the clock reads after it.
            assert (at - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None) < wall
            assert at.astimezone(tz).replace(tzinfo=None) > wall


def test_transitions_of_a_year() -> None:
    found = transitions(ROME, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [t.instant for t in found] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    ]
    spring, fall = found
    assert spring.forward
    assert not fall.forward
    assert spring.describe() == "clocks go forward 02:00 → 03:00 (2026-03-29)"
    assert fall.describe() == "clocks go back 03:00 → 02:00 (2026-10-25)"
    assert transitions(ZoneInfo("UTC"), found[0].instant, found[1].instant) == []


@settings(max_examples=50, deadline=None)
@given(zone=st.sampled_from(ZONES), year=st.integers(1990, 2035))
def test_transitions_are_exactly_where_the_offset_changes(zone: str, year: int) -> None:
    tz = ZoneInfo(zone)
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    found = transitions(tz, start, end)
    expected = []
    t = int(start.timestamp())
    while t < int(end.timestamp()):  # brute force every 30 minutes, then to the second
        u = t + 1800
        if datetime.fromtimestamp(t, tz).utcoffset() != datetime.fromtimestamp(u, tz).utcoffset():
            exact = next(
                s
                for s in range(t + 1, u + 1)
                if datetime.fromtimestamp(s, tz).utcoffset()
                != datetime.fromtimestamp(t, tz).utcoffset()
            )
            expected.append(datetime.fromtimestamp(exact, UTC))
        t = u
    assert [f.instant for f in found] == expected


def test_unknown_policies_are_refused_naming_the_field() -> None:
    with pytest.raises(ScheduleError) as caught:
        check_policies("Later", "RunTwice")
    assert caught.value.field == "dstPolicy.springForward"
    with pytest.raises(ScheduleError) as caught:
        check_policies("Skip", "Never")
    assert caught.value.field == "dstPolicy.fallBack"
