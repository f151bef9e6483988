"""The slots of a job after every time rule (chronos.schedule.occurrences)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos.schedule import ScheduleError, next_run_times
from chronos.schedule.calendar import Calendar
from chronos.schedule.dst import transitions
from chronos.schedule.occurrences import ScheduleRule, Slot, TimeRules, operator_mode, slots

# Zones whose clocks change by whole hours away from midnight: robfig's field-by-field
# search is exact there, so enumerated wall times agree with it.
REGULAR_ZONES = [
    "UTC",
    "Europe/Rome",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Asia/Kathmandu",
]
# Lord Howe's 30-minute shift, DST at midnight, a skipped calendar day.
QUIRKY_ZONES = ["Australia/Lord_Howe", "America/Sao_Paulo", "America/Havana", "Pacific/Apia"]
NOTHING_EXCLUDED = Calendar("none")


def rules(*crons: str, zone: str = "Europe/Rome", **kwargs: object) -> TimeRules:
    schedules = tuple(ScheduleRule(f"s{i}", c, None) for i, c in enumerate(crons))
    return TimeRules(schedules, zone, **kwargs)  # type: ignore[arg-type]


def runs(found: list[Slot]) -> list[datetime]:
    return [s.instant for s in found if s.action == "run"]


@st.composite
def crons(draw: st.DrawFn) -> str:
    minute = draw(st.sampled_from(["0", "30", "*/15", "5,45", "*", "59", "0-10/5"]))
    hour = draw(st.sampled_from(["*", "2", "1-3", "0", "*/6", "9-17", "23", "0,12"]))
    dom = draw(st.sampled_from(["*", "1", "15", "31", "1-7", "29"]))
    month = draw(st.sampled_from(["*", "3", "10,11", "2", "*/3"]))
    dow = draw(st.sampled_from(["*", "0", "1-5", "6"]))
    return f"{minute} {hour} {dom} {month} {dow}"


def aware(zones: list[str]) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2035, 12, 31),
        timezones=st.sampled_from([ZoneInfo(z) for z in zones]),
    )


@st.composite
def near_changes(draw: st.DrawFn, zones: list[str]) -> datetime:
    """An instant from three days before to a day after one of the zone's clock changes
    (where wall times are skipped or repeated)."""
    zone = ZoneInfo(draw(st.sampled_from(zones)))
    year = draw(st.integers(2000, 2035))
    changes = transitions(
        zone, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    )
    if not changes:
        return datetime(year, 6, 1, tzinfo=zone)
    change = draw(st.sampled_from(changes))
    minutes = draw(st.integers(-3 * 1440, 1440) | st.integers(-240, 60))
    return (change.instant + timedelta(minutes=minutes)).astimezone(zone)


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cron=crons(), after=aware(REGULAR_ZONES + QUIRKY_ZONES) | near_changes(QUIRKY_ZONES))
def test_native_slots_are_the_controllers_next_run_times(cron: str, after: datetime) -> None:
    zone = str(after.tzinfo)
    found = slots(rules(cron, zone=zone), after, limit=5, runs_only=True)
    assert runs(found) == [t.astimezone(UTC) for t in next_run_times(cron, zone, after, 5)]


@PROPERTY
@given(cron=crons(), after=aware(REGULAR_ZONES) | near_changes(REGULAR_ZONES))
def test_enumerated_wall_times_under_default_policies_are_robfigs(
    cron: str, after: datetime
) -> None:
    # A calendar that excludes nothing puts the schedule in operator mode: its slots come
    # from the enumerated wall times and the DST policy, not from the robfig port.
    zone = str(after.tzinfo)
    operated = rules(cron, zone=zone, calendar=NOTHING_EXCLUDED)
    assert operator_mode(operated, operated.schedules[0])
    found = slots(operated, after, limit=5, runs_only=True)
    assert runs(found) == [t.astimezone(UTC) for t in next_run_times(cron, zone, after, 5)]


@PROPERTY
@given(
    cron=crons(),
    after=aware(REGULAR_ZONES + QUIRKY_ZONES) | near_changes(REGULAR_ZONES + QUIRKY_ZONES),
    spring=st.sampled_from(["Skip", "RunAtNextValidTime"]),
    fall=st.sampled_from(["RunTwice", "RunOnce"]),
)
def test_under_every_policy_slots_ascend_and_read_back(
    cron: str, after: datetime, spring: str, fall: str
) -> None:
    zone = str(after.tzinfo)
    tz = ZoneInfo(zone)
    found = slots(rules(cron, zone=zone, spring_forward=spring, fall_back=fall), after, limit=8)
    instants = [s.instant for s in found]
    assert instants == sorted(instants)
    assert all(i > after for i in instants)
    run_instants = runs(found)
    assert len(set(run_instants)) == len(run_instants)  # one run (one Job name) per instant
    for slot in found:
        assert slot.instant.tzinfo is UTC
        assert slot.offset == slot.instant.astimezone(tz).utcoffset()
        if slot.action == "run" and slot.original is None:
            assert slot.instant.astimezone(tz).replace(tzinfo=None) == slot.wall
        if slot.action == "run" and slot.original is not None:  # moved out of a gap
            assert spring == "RunAtNextValidTime"
            assert slot.note
            assert "does not exist" in slot.note
        if fall == "RunOnce" and slot.note and "occurs twice" in slot.note:
            assert "the first" in slot.note


def test_spring_forward_policies() -> None:
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    skipped = slots(rules("30 2 * * *"), after, limit=2)
    assert [s.action for s in skipped] == ["skip", "run"]
    assert skipped[0].note == "DST: 02:30 does not exist on 2026-03-29; skipped"
    moved = slots(rules("30 2 * * *", spring_forward="RunAtNextValidTime"), after, limit=1)
    (slot,) = moved
    assert slot.instant == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert slot.wall == datetime(2026, 3, 29, 3, 0)
    assert slot.original == datetime(2026, 3, 29, 2, 30)
    assert slot.offset == timedelta(hours=2)
    assert slot.note == "DST: 02:30 does not exist on 2026-03-29; runs at 03:00"


def test_run_at_next_valid_time_never_runs_the_same_instant_twice() -> None:
    # 02:00 and 02:30 both move to 03:00, which the schedule names itself: one run.
    found = slots(
        rules("*/30 * * * *", spring_forward="RunAtNextValidTime"),
        datetime(2026, 3, 29, 0, 20, tzinfo=UTC),
        limit=3,
    )
    assert [s.wall for s in found] == [
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 3, 29, 3, 0),
        datetime(2026, 3, 29, 3, 30),
    ]


def test_fall_back_policies() -> None:
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    twice = slots(rules("30 2 * * *"), after, limit=3)
    assert runs(twice)[:2] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    assert [s.offset for s in twice[:2]] == [timedelta(hours=2), timedelta(hours=1)]
    once = slots(rules("30 2 * * *", fall_back="RunOnce"), after, limit=2)
    assert runs(once) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


def test_hourly_run_twice_in_operator_mode_keeps_instant_order() -> None:
    found = slots(
        rules("0,30 * * * *", calendar=NOTHING_EXCLUDED),
        datetime(2026, 10, 25, 0, 10, tzinfo=UTC),
        limit=5,
    )
    assert [s.instant.strftime("%H:%M") for s in found] == [
        "00:30", "01:00", "01:30", "02:00", "02:30"
    ]  # fmt: skip
    assert [s.wall.strftime("%H:%M") for s in found] == [
        "02:30", "02:00", "02:30", "03:00", "03:30"
    ]  # fmt: skip


def test_several_schedules_merge_by_instant() -> None:
    found = slots(
        rules("0 9 * * *", "30 8 * * *", zone="UTC"), datetime(2026, 5, 4, tzinfo=UTC), limit=4
    )
    assert [(s.schedule, s.wall.strftime("%d %H:%M")) for s in found] == [
        ("s1", "04 08:30"),
        ("s0", "04 09:00"),
        ("s1", "05 08:30"),
        ("s0", "05 09:00"),
    ]


def test_every_counts_from_the_anchor_as_the_controller_does() -> None:
    anchor = datetime(2026, 5, 4, 10, 7, 30, tzinfo=UTC)
    after = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    found = slots(rules("@every 45m"), after, limit=3, anchor=anchor)
    assert [s.instant for s in found] == [anchor + timedelta(minutes=45 * k) for k in (3, 4, 5)]
    # Without an anchor: from ``after`` (what next_run_times does).
    plain = slots(rules("@every 45m"), after, limit=2)
    assert [s.instant for s in plain] == [
        t.astimezone(UTC) for t in next_run_times("@every 45m", "Europe/Rome", after, 2)
    ]
    # An anchor in the future: its first run is one interval after it.
    later = slots(rules("@every 1h"), after, limit=1, anchor=after + timedelta(hours=5))
    assert later[0].instant == after + timedelta(hours=6)


WEEKENDS = Calendar("weekends", weekdays=frozenset({5, 6}), dates=frozenset({date(2026, 5, 25)}))


def test_calendar_skip_records_each_excluded_slot() -> None:
    found = slots(
        rules("0 9 * * *", calendar=WEEKENDS), datetime(2026, 5, 22, 6, tzinfo=UTC), limit=5
    )
    assert [(s.wall.day, s.action) for s in found] == [
        (22, "run"), (23, "skip"), (24, "skip"), (25, "skip"), (26, "run")
    ]  # fmt: skip
    assert found[1].note == "skipped: 2026-05-23 is excluded by calendar weekends"
    only_runs = slots(
        rules("0 9 * * *", calendar=WEEKENDS),
        datetime(2026, 5, 22, 6, tzinfo=UTC),
        limit=2,
        runs_only=True,
    )
    assert [s.wall.day for s in only_runs] == [22, 26]


def test_calendar_next_business_day_moves_and_merges() -> None:
    moved = rules("0 9 * * *", calendar=WEEKENDS, on_excluded="NextBusinessDay")
    found = slots(moved, datetime(2026, 5, 22, 6, tzinfo=UTC), limit=3)
    # Saturday, Sunday and the Monday holiday all move to Tuesday 09:00: one run there.
    assert [(s.wall.day, s.original, s.note) for s in found] == [
        (22, None, None),
        (26, datetime(2026, 5, 23, 9), "moved from 2026-05-23 (calendar weekends)"),
        (27, None, None),
    ]
    # Asked on Sunday, the slot moved from Saturday is still ahead.
    sunday = slots(moved, datetime(2026, 5, 24, 12, tzinfo=UTC), limit=1)
    assert sunday[0].original == datetime(2026, 5, 23, 9)


def test_the_calendar_zone_decides_the_day() -> None:
    # 23:30 in New York is already Saturday in Tokyo.
    tokyo = Calendar("tokyo-weekends", zone="Asia/Tokyo", weekdays=frozenset({5, 6}))
    found = slots(
        rules("30 23 * * 5", zone="America/New_York", calendar=tokyo),
        datetime(2026, 5, 1, tzinfo=UTC),
        limit=1,
    )
    assert found[0].action == "skip"


def test_active_window() -> None:
    window = rules(
        "0 9 * * *",
        zone="UTC",
        active_from=datetime(2026, 6, 10, 9, tzinfo=UTC),
        active_until=datetime(2026, 6, 12, 9, tzinfo=UTC),
    )
    found = slots(window, datetime(2026, 6, 1, tzinfo=UTC), limit=5)
    assert [s.wall.day for s in found] == [10, 11]  # from inclusive, until exclusive


def test_until_bounds_the_answer() -> None:
    found = slots(
        rules("0 * * * *", zone="UTC"),
        datetime(2026, 6, 1, tzinfo=UTC),
        until=datetime(2026, 6, 1, 3, tzinfo=UTC),
        limit=100,
    )
    assert [s.wall.hour for s in found] == [1, 2, 3]


def test_rrule_schedule_with_dst() -> None:
    # The last Sunday of March at 02:30 is always inside Europe's spring-forward gap.
    rrule = ScheduleRule("easter", None, "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;BYHOUR=2;BYMINUTE=30")
    base = TimeRules((rrule,), "Europe/Rome", spring_forward="RunAtNextValidTime")
    assert operator_mode(base, rrule)
    found = slots(base, datetime(2026, 1, 1, tzinfo=UTC), limit=2)
    assert [s.instant for s in found] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
    ]


def test_operator_mode() -> None:
    plain = rules("0 9 * * *")
    assert not operator_mode(plain, plain.schedules[0])
    dst = rules("0 9 * * *", fall_back="RunOnce")
    assert operator_mode(dst, dst.schedules[0])
    every = rules("@every 1h", spring_forward="RunAtNextValidTime")
    assert not operator_mode(every, every.schedules[0])  # elapsed time has no wall clock


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"zone": "Mars/Olympus"}, "timeZone"),
        ({"spring_forward": "Later"}, "dstPolicy.springForward"),
        ({"fall_back": "Never"}, "dstPolicy.fallBack"),
        ({"on_excluded": "Tomorrow"}, "onExcluded"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        slots(rules("0 9 * * *", **kwargs), datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.field == field


def test_unresolved_h_and_bad_rrule_are_refused() -> None:
    with pytest.raises(ScheduleError, match="resolve_hashed"):
        slots(rules("H 2 * * *"), datetime(2026, 1, 1, tzinfo=UTC))
    bad = TimeRules((ScheduleRule("r", None, "FREQ=MINUTELY"),), "UTC")
    with pytest.raises(ScheduleError) as caught:
        slots(bad, datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.field == "schedule.rrule"
