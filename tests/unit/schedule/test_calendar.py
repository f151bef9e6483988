"""Calendars of excluded days and their .ics files (chronos.schedule.calendar)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.schedule.calendar import (
    ICS_MAX_BYTES,
    ICS_MAX_EVENTS,
    LOOKAHEAD_DAYS,
    WEEKDAY_NUMBERS,
    Calendar,
    CalendarError,
    parse_ics,
)

HOLIDAYS = Calendar(
    "holidays",
    dates=frozenset({date(2026, 12, 24)}),
    ranges=((date(2026, 8, 10), date(2026, 8, 14)),),
    yearly=frozenset({(12, 25), (2, 29)}),
    weekdays=frozenset({WEEKDAY_NUMBERS["saturday"], WEEKDAY_NUMBERS["sunday"]}),
)


@pytest.mark.parametrize(
    ("day", "excluded"),
    [
        (date(2026, 12, 24), True),  # a date
        (date(2026, 12, 25), True),  # yearly
        (date(2031, 12, 25), True),
        (date(2026, 8, 10), True),  # range, inclusive at both ends
        (date(2026, 8, 14), True),
        (date(2026, 8, 17), False),
        (date(2026, 12, 5), True),  # a Saturday
        (date(2026, 12, 7), False),  # a Monday
        (date(2028, 2, 29), True),  # leap day
        (date(2027, 3, 1), False),
    ],
)
def test_excludes(day: date, excluded: bool) -> None:
    assert HOLIDAYS.excludes(day) is excluded


def test_next_included_skips_weekends_and_holidays() -> None:
    assert HOLIDAYS.next_included(date(2026, 12, 23)) == date(2026, 12, 28)  # Thu
    assert HOLIDAYS.next_included(date(2026, 8, 7)) == date(2026, 8, 17)
    everything = Calendar("all", weekdays=frozenset(range(7)))
    assert everything.next_included(date(2026, 1, 1)) is None


def test_excluded_ahead_lists_the_next_days() -> None:
    assert HOLIDAYS.excluded_ahead(date(2026, 12, 23), 4) == [
        date(2026, 12, 24),
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 27),
    ]


@settings(max_examples=100, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    dates=st.frozensets(st.dates(min_value=date(2000, 1, 1), max_value=date(2041, 1, 1))),
    weekdays=st.frozensets(st.integers(0, 6), max_size=6),
)
def test_next_included_is_the_first_day_after_that_is_not_excluded(
    day: date, dates: frozenset[date], weekdays: frozenset[int]
) -> None:
    calendar = Calendar("c", dates=dates, weekdays=weekdays)
    found = calendar.next_included(day)
    assert found is not None  # at least one weekday stays in
    assert found > day
    assert not calendar.excludes(found)
    assert all(calendar.excludes(day + timedelta(days=n)) for n in range(1, (found - day).days))
    assert (found - day).days <= LOOKAHEAD_DAYS


ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
SUMMARY:Christmas\r
DTSTART;VALUE=DATE:20261225\r
DTEND;VALUE=DATE:20261226\r
RRULE:FREQ=YEARLY\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Summer freeze,\r
  folded over two lines\r
DTSTART;VALUE=DATE:20260810\r
DTEND;VALUE=DATE:20260813\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:A meeting, not a holiday\r
DTSTART:20260901T090000Z\r
DTEND:20260901T100000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Cancelled\r
STATUS:CANCELLED\r
DTSTART;VALUE=DATE:20260902\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;VALUE=DATE:20261001\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_parse_ics_reads_all_day_events_and_yearly_holidays() -> None:
    dates, yearly = parse_ics(ICS)
    assert dates == {date(2026, 8, 10), date(2026, 8, 11), date(2026, 8, 12), date(2026, 10, 1)}
    assert yearly == {(12, 25)}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261301\nEND:VEVENT", 2, "DTSTART"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026\nEND:VEVENT\nEND:VCALENDAR", 3, "DTSTART"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\n", 2, "without END"),
        (
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=WEEKLY\n"
            "END:VEVENT\nEND:VCALENDAR",
            4,
            "only RRULE:FREQ=YEARLY",
        ),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR", 2, "DTSTART"),
        ("BEGIN:VCALENDAR\nno colon here\nEND:VCALENDAR", 2, "NAME:value"),
        ("just text: not a calendar", 0, "not an iCalendar"),
    ],
)
def test_parse_ics_refuses_bad_files_with_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_ics(text)
    assert caught.value.line == line
    assert reason in str(caught.value)


def test_parse_ics_is_bounded() -> None:
    event = "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nEND:VEVENT\n"
    with pytest.raises(CalendarError, match="more than 5000 events"):
        parse_ics("BEGIN:VCALENDAR\n" + event * (ICS_MAX_EVENTS + 1) + "END:VCALENDAR")
    with pytest.raises(CalendarError, match="larger than"):
        parse_ics("BEGIN:VCALENDAR\n" + "X" * ICS_MAX_BYTES)
    long_event = "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nDTEND;VALUE=DATE:20300101\nEND:VEVENT"
    with pytest.raises(CalendarError, match="longer than 366 days"):
        parse_ics("BEGIN:VCALENDAR\n" + long_event + "\nEND:VCALENDAR")
