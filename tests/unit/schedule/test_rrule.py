"""RFC 5545 RRULE schedules (chronos.schedule.rrule), against python-dateutil as oracle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos.schedule import ScheduleError
from chronos.schedule.rrule import _HORIZON as HORIZON
from chronos.schedule.rrule import DEFAULT_DTSTART, parse_rrule

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def oracle(
    text: str, after: datetime, count: int, cutoff: datetime = datetime.max
) -> list[datetime]:
    """dateutil's next ``count`` occurrences strictly after ``after`` (up to ``cutoff``)."""
    lines = text.strip().splitlines()
    if not lines[0].startswith("DTSTART"):
        lines.insert(0, f"DTSTART:{DEFAULT_DTSTART:%Y%m%dT%H%M%S}")
    if not lines[1].startswith("RRULE:"):
        lines[1] = "RRULE:" + lines[1]
    try:
        rule = rrulestr("\n".join(lines))
    except ValueError as exc:
        # dateutil refuses a rule whose BY parts can never meet its INTERVAL (HOURLY;
        # INTERVAL=2;BYHOUR=1 from an even hour): the engine finds nothing for it.
        if "empty set" not in str(exc):
            raise
        return []
    start = datetime.strptime(lines[0], "DTSTART:%Y%m%dT%H%M%S")
    # The engine looks ten years past the later of ``after`` and DTSTART.
    horizon = min(max(after, start) + HORIZON, cutoff)
    found: list[datetime] = []
    for when in rule:
        if when > horizon or len(found) >= count:
            break
        if when > after:
            found.append(when)
    return found


def mine(text: str, after: datetime, count: int) -> list[datetime]:
    return list(parse_rrule(text).walls_after(after, count))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The last of the hour's candidates, in the hours BYHOUR allows.
        (
            "FREQ=HOURLY;BYHOUR=9,17;BYMINUTE=0,30;BYSETPOS=-1",
            ["2026-12-01 09:30", "2026-12-01 17:30"],
        ),
        (
            "FREQ=DAILY;BYDAY=MO;BYHOUR=8,12,16;BYSETPOS=2,-1",
            ["2026-12-07 12:00", "2026-12-07 16:00"],
        ),
        # Last Friday of the month at 09:00.
        ("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0", ["2026-12-25 09:00", "2027-01-29 09:00"]),
        # Every two weeks on Tuesday (weeks counted from DTSTART's, a Monday).
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;BYHOUR=8", ["2026-12-01 08:00", "2026-12-15 08:00"]),
        # First weekday of the month.
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;BYHOUR=6",
            ["2026-12-01 06:00", "2027-01-01 06:00"],
        ),
        # US Thanksgiving.
        ("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", ["2027-11-25 00:00", "2028-11-23 00:00"]),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", ["2026-12-31 00:00", "2027-01-31 00:00"]),
        (
            "DTSTART:20261130T223000\nRRULE:FREQ=DAILY;COUNT=3",
            ["2026-12-01 22:30", "2026-12-02 22:30"],
        ),
    ],
)
def test_examples(text: str, expected: list[str]) -> None:
    after = datetime(2026, 12, 1)
    found = [f"{w:%Y-%m-%d %H:%M}" for w in mine(text, after, len(expected))]
    assert found == expected
    assert mine(text, after, 2) == oracle(text, after, 2)


def test_count_and_until_end_the_rule() -> None:
    text = "DTSTART:20261130T090000\nRRULE:FREQ=DAILY;COUNT=3"
    assert len(mine(text, datetime(2026, 1, 1), 10)) == 3
    assert mine(text, datetime(2026, 12, 2, 9), 10) == []
    until = "FREQ=DAILY;BYHOUR=9;UNTIL=20261203"  # a DATE bounds the whole day
    assert [w.day for w in mine(until, datetime(2026, 12, 1), 10)] == [1, 2, 3]


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A rule and an instant after which to compare (the oracle walks from DTSTART on
    every call: the instant stays within a few hundred periods of DTSTART)."""
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if freq in ("YEARLY", "MONTHLY") and draw(st.booleans()):
        nth = draw(st.sampled_from(["", "1", "2", "-1", "-2", "3"]))
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        parts.append("BYDAY=" + ",".join(nth + d for d in days))
    elif freq != "YEARLY" and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=5, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if freq != "WEEKLY" and draw(st.booleans()):
        days = draw(
            st.lists(
                st.sampled_from([1, 2, 13, 15, 28, 29, 30, 31, -1, -2, -10]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if draw(st.booleans()):
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    if draw(st.booleans()):
        minutes = draw(st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True))
        parts.append("BYMINUTE=" + ",".join(map(str, minutes)))
    # (dateutil takes minutes over HOURLY or DAILY with a BYSETPOS that never matches:
    # the examples above cover those.)
    if len(parts) > 2 and freq not in ("HOURLY", "DAILY") and draw(st.booleans()):
        positions = draw(
            st.lists(st.sampled_from([1, 2, -1, -2, 3]), min_size=1, max_size=2, unique=True)
        )
        parts.append("BYSETPOS=" + ",".join(map(str, positions)))
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    end = draw(st.sampled_from(["", "count", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M00}")
    rule = ";".join(parts)
    start = DEFAULT_DTSTART
    text = rule
    if draw(st.booleans()):
        start = draw(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2027, 1, 1)))
        start = start.replace(second=0, microsecond=0)
        text = f"DTSTART:{start:%Y%m%dT%H%M00}\nRRULE:{rule}"
    period = {"HOURLY": 1 / 24, "DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "YEARLY": 365}[freq]
    after = start + timedelta(days=period * draw(st.floats(-20, 400)))
    # dateutil walks every period from DTSTART (slowly for HOURLY with BYSETPOS): the
    # comparison stops 2,000 periods after ``after``.
    return text, after, after + timedelta(days=period * 2000)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=rules())
def test_the_next_occurrences_are_dateutils(case: tuple[str, datetime, datetime]) -> None:
    text, after, cutoff = case
    assert [w for w in mine(text, after, 6) if w <= cutoff] == oracle(text, after, 6, cutoff)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("FREQ=MINUTELY", "FREQ"),
        ("FREQ=DAILY;BYSECOND=5", "BYSECOND"),
        ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR"),
        ("FREQ=WEEKLY;BYDAY=2TU", "BYDAY"),
        ("FREQ=MONTHLY;BYDAY=6FR", "BYDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101T000000", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20270101T000000Z", "UNTIL"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ"),
        ("BYHOUR=9", "FREQ"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("FREQ=DAILY;WKST=XX", "WKST"),
        ("DTSTART;TZID=Europe/Rome:20260101T000000\nRRULE:FREQ=DAILY", "DTSTART"),
        ("DTSTART:20260101T000030\nRRULE:FREQ=DAILY", "DTSTART"),
        ("FREQ=DAILY;" + "BYHOUR=1;" * 200, "RRULE"),
        ("", "RRULE"),
    ],
)
def test_unsupported_or_bad_parts_are_refused_naming_the_part(text: str, part: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_rrule(text)
    assert caught.value.field == "schedule.rrule"
    assert caught.value.reason.startswith(part + ":"), caught.value.reason


def test_a_rule_near_the_year_9999_ends_quietly_instead_of_overflowing() -> None:
    rule = parse_rrule("DTSTART:99991231T000000\nFREQ=YEARLY;BYHOUR=1;BYMINUTE=0")
    assert list(rule.walls_after(datetime(9999, 12, 31, 2), 5)) == []
    # The rule ends where datetime does (the last day's look-ahead cannot be computed):
    # what comes before is still given. (Jobs' times are kept to the years 1970-2999.)
    daily = parse_rrule("DTSTART:99991230T000000\nFREQ=DAILY;BYHOUR=1;BYMINUTE=0")
    assert list(daily.walls_after(datetime(9999, 12, 29), 5))[:1] == [datetime(9999, 12, 30, 1)]
