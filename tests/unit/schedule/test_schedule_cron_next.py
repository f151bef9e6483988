"""Next-time semantics: robfig spec_test.go tables (incl. DST) and Kubernetes run times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chronos.schedule import next_run_times, parse_cron
from chronos.schedule.cron import CronSchedule, _parse, go_date

NEW_YORK = ZoneInfo("America/New_York")


def get_time(value: str, tz: ZoneInfo | timezone = UTC) -> datetime | None:
    """Port of robfig's getTime; "TZ=<zone> <time>" picks the location."""
    if value == "":
        return None
    if value.startswith("TZ="):
        zone, value = value.split(maxsplit=1)
        tz = ZoneInfo(zone[len("TZ=") :])
    for layout in ("%a %b %d %H:%M %Y", "%a %b %d %H:%M:%S %Y"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=tz)
        except ValueError:
            pass
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(tz)


def _schedule(spec: str) -> tuple[CronSchedule, ZoneInfo | None]:
    """robfig's seconds parser, with the TZ=/CRON_TZ= prefix turned into a location."""
    location = None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        prefix, spec = spec.split(maxsplit=1)
        location = ZoneInfo(prefix.split("=", 1)[1])
    return _parse(spec, with_seconds=True), location


ACTIVATION = [
    ("Mon Jul 9 15:00 2012", "0/15 * * * *", True),
    ("Mon Jul 9 15:45 2012", "0/15 * * * *", True),
    ("Mon Jul 9 15:40 2012", "0/15 * * * *", False),
    ("Mon Jul 9 15:05 2012", "5/15 * * * *", True),
    ("Mon Jul 9 15:20 2012", "5/15 * * * *", True),
    ("Mon Jul 9 15:50 2012", "5/15 * * * *", True),
    ("Sun Jul 15 15:00 2012", "0/15 * * Jul *", True),
    ("Sun Jul 15 15:00 2012", "0/15 * * Jun *", False),
    ("Sun Jul 15 08:30 2012", "30 08 ? Jul Sun", True),
    ("Sun Jul 15 08:30 2012", "30 08 15 Jul ?", True),
    ("Mon Jul 16 08:30 2012", "30 08 ? Jul Sun", False),
    ("Mon Jul 16 08:30 2012", "30 08 15 Jul ?", False),
    ("Mon Jul 9 15:00 2012", "@hourly", True),
    ("Mon Jul 9 15:04 2012", "@hourly", False),
    ("Mon Jul 9 15:00 2012", "@daily", False),
    ("Mon Jul 9 00:00 2012", "@daily", True),
    ("Mon Jul 9 00:00 2012", "@weekly", False),
    ("Sun Jul 8 00:00 2012", "@weekly", True),
    ("Sun Jul 8 01:00 2012", "@weekly", False),
    ("Sun Jul 8 00:00 2012", "@monthly", False),
    ("Sun Jul 1 00:00 2012", "@monthly", True),
    # If both DOM and DOW are restricted, only one needs to match.
    ("Sun Jul 15 00:00 2012", "* * 1,15 * Sun", True),
    ("Fri Jun 15 00:00 2012", "* * 1,15 * Sun", True),
    ("Wed Aug 1 00:00 2012", "* * 1,15 * Sun", True),
    ("Sun Jul 15 00:00 2012", "* * */10 * Sun", True),  # robfig #70: */10 has no star bit
    # However, if one has a star, then both need to match.
    ("Sun Jul 15 00:00 2012", "* * * * Mon", False),
    ("Mon Jul 9 00:00 2012", "* * 1,15 * *", False),
    ("Sun Jul 15 00:00 2012", "* * 1,15 * *", True),
    ("Sun Jul 15 00:00 2012", "* * */2 * Sun", True),
]


@pytest.mark.parametrize(("time", "spec", "expected"), ACTIVATION)
def test_activation(time: str, spec: str, expected: bool) -> None:
    when = get_time(time)
    assert when is not None
    actual = parse_cron(spec).next(when - timedelta(seconds=1))
    assert (actual == when) is expected


NEXT = [
    # Simple cases
    ("Mon Jul 9 14:45 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"),
    ("Mon Jul 9 14:59 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"),
    ("Mon Jul 9 14:59:59 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"),
    # Wrap around hours
    ("Mon Jul 9 15:45 2012", "0 20-35/15 * * * *", "Mon Jul 9 16:20 2012"),
    # Wrap around days
    ("Mon Jul 9 23:46 2012", "0 */15 * * * *", "Tue Jul 10 00:00 2012"),
    ("Mon Jul 9 23:45 2012", "0 20-35/15 * * * *", "Tue Jul 10 00:20 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * * * *", "Tue Jul 10 00:20:15 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 1/2 * * *", "Tue Jul 10 01:20:15 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 10-12 * * *", "Tue Jul 10 10:20:15 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 1/2 */2 * *", "Thu Jul 11 01:20:15 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * 9-20 * *", "Wed Jul 10 00:20:15 2012"),
    ("Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * 9-20 Jul *", "Wed Jul 10 00:20:15 2012"),
    # Wrap around months
    ("Mon Jul 9 23:35 2012", "0 0 0 9 Apr-Oct ?", "Thu Aug 9 00:00 2012"),
    ("Mon Jul 9 23:35 2012", "0 0 0 */5 Apr,Aug,Oct Mon", "Tue Aug 1 00:00 2012"),
    ("Mon Jul 9 23:35 2012", "0 0 0 */5 Oct Mon", "Mon Oct 1 00:00 2012"),
    # Wrap around years
    ("Mon Jul 9 23:35 2012", "0 0 0 * Feb Mon", "Mon Feb 4 00:00 2013"),
    ("Mon Jul 9 23:35 2012", "0 0 0 * Feb Mon/2", "Fri Feb 1 00:00 2013"),
    # Wrap around minute, hour, day, month, and year
    ("Mon Dec 31 23:59:45 2012", "0 * * * * *", "Tue Jan 1 00:00:00 2013"),
    # Leap year
    ("Mon Jul 9 23:35 2012", "0 0 0 29 Feb ?", "Mon Feb 29 00:00 2016"),
    # Daylight savings time 2am EST (-5) -> 3am EDT (-4)
    ("2012-03-11T00:00:00-0500", "TZ=America/New_York 0 30 2 11 Mar ?", "2013-03-11T02:30:00-0400"),
    # hourly job
    ("2012-03-11T00:00:00-0500", "TZ=America/New_York 0 0 * * * ?", "2012-03-11T01:00:00-0500"),
    ("2012-03-11T01:00:00-0500", "TZ=America/New_York 0 0 * * * ?", "2012-03-11T03:00:00-0400"),
    ("2012-03-11T03:00:00-0400", "TZ=America/New_York 0 0 * * * ?", "2012-03-11T04:00:00-0400"),
    ("2012-03-11T04:00:00-0400", "TZ=America/New_York 0 0 * * * ?", "2012-03-11T05:00:00-0400"),
    # hourly job using CRON_TZ
    (
        "2012-03-11T00:00:00-0500",
        "CRON_TZ=America/New_York 0 0 * * * ?",
        "2012-03-11T01:00:00-0500",
    ),
    (
        "2012-03-11T01:00:00-0500",
        "CRON_TZ=America/New_York 0 0 * * * ?",
        "2012-03-11T03:00:00-0400",
    ),
    (
        "2012-03-11T03:00:00-0400",
        "CRON_TZ=America/New_York 0 0 * * * ?",
        "2012-03-11T04:00:00-0400",
    ),
    (
        "2012-03-11T04:00:00-0400",
        "CRON_TZ=America/New_York 0 0 * * * ?",
        "2012-03-11T05:00:00-0400",
    ),
    # 1am nightly job
    ("2012-03-11T00:00:00-0500", "TZ=America/New_York 0 0 1 * * ?", "2012-03-11T01:00:00-0500"),
    ("2012-03-11T01:00:00-0500", "TZ=America/New_York 0 0 1 * * ?", "2012-03-12T01:00:00-0400"),
    # 2am nightly job (skipped)
    ("2012-03-11T00:00:00-0500", "TZ=America/New_York 0 0 2 * * ?", "2012-03-12T02:00:00-0400"),
    # Daylight savings time 2am EDT (-4) => 1am EST (-5)
    ("2012-11-04T00:00:00-0400", "TZ=America/New_York 0 30 2 04 Nov ?", "2012-11-04T02:30:00-0500"),
    ("2012-11-04T01:45:00-0400", "TZ=America/New_York 0 30 1 04 Nov ?", "2012-11-04T01:30:00-0500"),
    # hourly job
    ("2012-11-04T00:00:00-0400", "TZ=America/New_York 0 0 * * * ?", "2012-11-04T01:00:00-0400"),
    ("2012-11-04T01:00:00-0400", "TZ=America/New_York 0 0 * * * ?", "2012-11-04T01:00:00-0500"),
    ("2012-11-04T01:00:00-0500", "TZ=America/New_York 0 0 * * * ?", "2012-11-04T02:00:00-0500"),
    # 1am nightly job (runs twice)
    ("2012-11-04T00:00:00-0400", "TZ=America/New_York 0 0 1 * * ?", "2012-11-04T01:00:00-0400"),
    ("2012-11-04T01:00:00-0400", "TZ=America/New_York 0 0 1 * * ?", "2012-11-04T01:00:00-0500"),
    ("2012-11-04T01:00:00-0500", "TZ=America/New_York 0 0 1 * * ?", "2012-11-05T01:00:00-0500"),
    # 2am nightly job
    ("2012-11-04T00:00:00-0400", "TZ=America/New_York 0 0 2 * * ?", "2012-11-04T02:00:00-0500"),
    ("2012-11-04T02:00:00-0500", "TZ=America/New_York 0 0 2 * * ?", "2012-11-05T02:00:00-0500"),
    # 3am nightly job
    ("2012-11-04T00:00:00-0400", "TZ=America/New_York 0 0 3 * * ?", "2012-11-04T03:00:00-0500"),
    ("2012-11-04T03:00:00-0500", "TZ=America/New_York 0 0 3 * * ?", "2012-11-05T03:00:00-0500"),
    # hourly job, the reference time itself in New York
    ("TZ=America/New_York 2012-11-04T00:00:00-0400", "0 0 * * * ?", "2012-11-04T01:00:00-0400"),
    ("TZ=America/New_York 2012-11-04T01:00:00-0400", "0 0 * * * ?", "2012-11-04T01:00:00-0500"),
    ("TZ=America/New_York 2012-11-04T01:00:00-0500", "0 0 * * * ?", "2012-11-04T02:00:00-0500"),
    # 1am nightly job (runs twice)
    ("TZ=America/New_York 2012-11-04T00:00:00-0400", "0 0 1 * * ?", "2012-11-04T01:00:00-0400"),
    ("TZ=America/New_York 2012-11-04T01:00:00-0400", "0 0 1 * * ?", "2012-11-04T01:00:00-0500"),
    ("TZ=America/New_York 2012-11-04T01:00:00-0500", "0 0 1 * * ?", "2012-11-05T01:00:00-0500"),
    # 2am nightly job
    ("TZ=America/New_York 2012-11-04T00:00:00-0400", "0 0 2 * * ?", "2012-11-04T02:00:00-0500"),
    ("TZ=America/New_York 2012-11-04T02:00:00-0500", "0 0 2 * * ?", "2012-11-05T02:00:00-0500"),
    # 3am nightly job
    ("TZ=America/New_York 2012-11-04T00:00:00-0400", "0 0 3 * * ?", "2012-11-04T03:00:00-0500"),
    ("TZ=America/New_York 2012-11-04T03:00:00-0500", "0 0 3 * * ?", "2012-11-05T03:00:00-0500"),
    # Unsatisfiable
    ("Mon Jul 9 23:35 2012", "0 0 0 30 Feb ?", ""),
    ("Mon Jul 9 23:35 2012", "0 0 0 31 Apr ?", ""),
    # Monthly job
    ("TZ=America/New_York 2012-11-04T00:00:00-0400", "0 0 3 3 * ?", "2012-12-03T03:00:00-0500"),
    # DST making midnight not a valid time (robfig #157)
    ("2018-10-17T05:00:00-0400", "TZ=America/Sao_Paulo 0 0 9 10 * ?", "2018-11-10T06:00:00-0500"),
    ("2018-02-14T05:00:00-0500", "TZ=America/Sao_Paulo 0 0 9 22 * ?", "2018-02-22T07:00:00-0500"),
]


@pytest.mark.parametrize(("time", "spec", "expected"), NEXT)
def test_next(time: str, spec: str, expected: str) -> None:
    schedule, location = _schedule(spec)
    start = get_time(time)
    assert start is not None
    if location is not None:
        start = start.astimezone(location)  # what SpecSchedule.Location does
    actual = schedule.next(start)
    wanted = get_time(expected)
    if wanted is None:
        assert actual is None
    else:
        assert actual is not None
        assert actual.timestamp() == wanted.timestamp()
        assert actual.tzinfo is start.tzinfo  # converted back to the original location


@pytest.mark.parametrize(
    ("time", "spec", "expected"),
    [
        # robfig TestNextWithTz: a fixed +05:30 zone.
        ("2016-01-03T13:09:03+0530", "14 14 * * *", "2016-01-03T14:14:00+0530"),
        ("2016-01-03T04:09:03+0530", "14 14 * * ?", "2016-01-03T14:14:00+0530"),
        ("2016-01-03T14:09:03+0530", "14 14 * * *", "2016-01-03T14:14:00+0530"),
        ("2016-01-03T14:00:00+0530", "14 14 * * ?", "2016-01-03T14:14:00+0530"),
    ],
)
def test_next_with_fixed_offset(time: str, spec: str, expected: str) -> None:
    start = datetime.strptime(time, "%Y-%m-%dT%H:%M:%S%z")
    actual = parse_cron(spec).next(start)
    assert actual == datetime.strptime(expected, "%Y-%m-%dT%H:%M:%S%z")
    assert actual is not None
    assert actual.utcoffset() == timedelta(hours=5, minutes=30)


def test_next_rejects_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").next(datetime(2025, 1, 1))


def test_next_is_strictly_after_and_drops_subseconds() -> None:
    schedule = parse_cron("* * * * *")
    start = datetime(2025, 1, 1, 10, 0, 0, 999_999, tzinfo=UTC)
    assert schedule.next(start) == datetime(2025, 1, 1, 10, 1, tzinfo=UTC)
    assert schedule.next(datetime(2025, 1, 1, 10, 0, tzinfo=UTC)) == datetime(
        2025, 1, 1, 10, 1, tzinfo=UTC
    )


def test_five_year_limit() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    # Feb 29 exists in 2028, within five years: found.
    assert parse_cron("0 0 29 2 *").next(start) == datetime(2028, 2, 29, tzinfo=UTC)
    # Feb 30 never exists, April 31 neither: Go's zero time.
    assert parse_cron("0 0 30 2 *").next(start) is None
    assert parse_cron("0 0 31 4 *").next(start) is None
    # A field with no values at all (robfig accepts ",") never matches.
    assert parse_cron(", * * * *").next(start) is None
    assert parse_cron("* * , * ,").next(start) is None


def test_five_year_limit_is_on_the_year_of_the_start() -> None:
    # Feb 29 after 2096 is next in 2104 (2100 is not a leap year): beyond the limit.
    assert parse_cron("0 0 29 2 *").next(datetime(2096, 3, 1, tzinfo=UTC)) is None
    assert parse_cron("0 0 29 2 *").next(datetime(2095, 3, 1, tzinfo=UTC)) == datetime(
        2096, 2, 29, tzinfo=UTC
    )


def test_every_schedule() -> None:
    schedule = parse_cron("@every 1h30m")
    start = datetime(2025, 3, 30, 0, 10, 5, 123_456, tzinfo=ZoneInfo("Europe/Rome"))
    # ConstantDelaySchedule.Next: start - subseconds + delay, in absolute time (DST ignored).
    result = schedule.next(start)
    assert result is not None
    assert result.timestamp() == start.replace(microsecond=0).timestamp() + 5400
    assert result == datetime(2025, 3, 30, 0, 40, 5, tzinfo=UTC)
    assert result.isoformat() == "2025-03-30T01:40:05+01:00"


# --- Go time.Date normalisation ------------------------------------------------------


def _iso(unix: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix, tz).isoformat()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Plain normalisation.
        ((2012, 13, 1, 0, 0, 0), "2013-01-01T00:00:00-05:00"),
        ((2012, 0, 1, 0, 0, 0), "2011-12-01T00:00:00-05:00"),
        ((2012, 1, 32, 0, 0, 0), "2012-02-01T00:00:00-05:00"),
        ((2012, 2, 30, 0, 0, 0), "2012-03-01T00:00:00-05:00"),
        ((2012, 1, 1, 24, 0, 0), "2012-01-02T00:00:00-05:00"),
        ((2012, 1, 0, 0, 0, 0), "2011-12-31T00:00:00-05:00"),
        # Spring forward (07:00Z, 02:00 EST -> 03:00 EDT): 02:30 does not exist. Read as
        # UTC it is before the transition (EST); 02:30 EST is after it, so Go re-resolves
        # with EDT: the result is 06:30Z, i.e. 01:30 EST - an hour *earlier*.
        ((2012, 3, 11, 2, 30, 0), "2012-03-11T01:30:00-05:00"),
        ((2012, 3, 11, 2, 0, 0), "2012-03-11T01:00:00-05:00"),
        # Fall back (06:00Z, 02:00 EDT -> 01:00 EST): 01:30 happens twice; Go picks the
        # first (EDT) occurrence.
        ((2012, 11, 4, 1, 30, 0), "2012-11-04T01:30:00-04:00"),
        ((2012, 11, 4, 1, 0, 0), "2012-11-04T01:00:00-04:00"),
    ],
)
def test_go_date_new_york(args: tuple[int, int, int, int, int, int], expected: str) -> None:
    assert _iso(go_date(*args, NEW_YORK), NEW_YORK) == expected


def test_go_date_eastern_hemisphere() -> None:
    rome = ZoneInfo("Europe/Rome")
    # Spring forward 2025-03-30 02:00 -> 03:00: east of UTC, 02:30 becomes 03:30 (later).
    assert _iso(go_date(2025, 3, 30, 2, 30, 0, rome), rome) == "2025-03-30T03:30:00+02:00"
    # Fall back 2025-10-26 03:00 -> 02:00: east of UTC, Go picks the second (CET)
    # occurrence - the opposite of New York.
    assert _iso(go_date(2025, 10, 26, 2, 30, 0, rome), rome) == "2025-10-26T02:30:00+01:00"
    # Sao Paulo 2018-11-04: midnight did not exist; Go gives 23:00 of the day before.
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    assert _iso(go_date(2018, 11, 4, 0, 0, 0, sao_paulo), sao_paulo) == "2018-11-03T23:00:00-03:00"


# --- Kubernetes CronJob run times ----------------------------------------------------


def test_next_run_times_friendly_schedule() -> None:
    after = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
    times = next_run_times("30 8 * * 1,3,5", "Europe/Rome", after, 4)
    assert [t.isoformat() for t in times] == [
        "2025-03-31T08:30:00+02:00",
        "2025-04-02T08:30:00+02:00",
        "2025-04-04T08:30:00+02:00",
        "2025-04-07T08:30:00+02:00",
    ]
    assert all(t.tzinfo == ZoneInfo("Europe/Rome") for t in times)


def test_next_run_times_across_spring_forward() -> None:
    after = datetime(2025, 3, 29, 23, 0, tzinfo=ZoneInfo("Europe/Rome"))
    times = next_run_times("30 2 * * *", "Europe/Rome", after, 2)
    # 02:30 does not exist on 2025-03-30, robfig skips that day entirely.
    assert [t.isoformat() for t in times] == [
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
    ]


def test_next_run_times_across_fall_back() -> None:
    after = datetime(2025, 10, 25, 23, 0, tzinfo=ZoneInfo("Europe/Rome"))
    times = next_run_times("*/30 2 * * *", "Europe/Rome", after, 5)
    # The repeated 02:00-02:59 hour runs in both offsets.
    assert [t.isoformat() for t in times] == [
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00",
        "2025-10-27T02:00:00+01:00",
    ]
    stamps = [t.timestamp() for t in times]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_next_run_times_every_and_limits() -> None:
    after = datetime(2025, 1, 1, tzinfo=UTC)
    times = next_run_times("@every 90m", "Asia/Tokyo", after, 3)
    assert [t.isoformat() for t in times] == [
        "2025-01-01T10:30:00+09:00",
        "2025-01-01T12:00:00+09:00",
        "2025-01-01T13:30:00+09:00",
    ]
    assert next_run_times("0 0 30 2 *", "UTC", after, 3) == []
    assert next_run_times("@daily", "UTC", after, 0) == []
    with pytest.raises(ValueError, match="count"):
        next_run_times("@daily", "UTC", after, -1)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_times("@daily", "UTC", datetime(2025, 1, 1), 1)


def test_next_run_times_validates_inputs() -> None:
    after = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"schedule\.cron"):
        next_run_times("TZ=UTC 0 0 * * *", "UTC", after, 1)
    with pytest.raises(ValueError, match="timeZone"):
        next_run_times("0 0 * * *", "Mars/Olympus", after, 1)


def test_lord_howe_half_hour_dst_quirk() -> None:
    # Faithful to robfig: the minute search crosses the 02:00 -> 02:30 gap without
    # re-checking the hour (it only wraps when the minute reads 0), so on the DST day a
    # 01:45 schedule also fires at 02:45, and Kubernetes would run it twice that day.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    schedule = parse_cron("45 1 * * *")
    first = schedule.next(datetime(2024, 10, 5, 12, 0, tzinfo=lord_howe))
    assert first is not None
    assert first.isoformat() == "2024-10-06T01:45:00+10:30"
    second = schedule.next(first)
    assert second is not None
    assert second.isoformat() == "2024-10-06T02:45:00+11:00"


def _walk(cron: str, zone: str, instants: list[datetime]) -> int:
    """Call the engine with later and later instants, as the operator does (the memo of
    the last answer in use), and check each answer against a fresh computation; returns
    how many answers came from the memo."""
    from chronos.schedule import cron as engine

    reused = 0
    for after in sorted(instants):
        remembered = engine._RECENT.get((cron, zone, 5))
        walked = next_run_times(cron, zone, after, 5)
        reused += remembered is not None and engine._RECENT[(cron, zone, 5)] is remembered
        engine._RECENT.clear()  # fresh; this call leaves its own answer for the next step
        assert walked == next_run_times(cron, zone, after, 5), (zone, cron, after)
    return reused


def _steps(start: datetime, hours: int, step: int) -> list[datetime]:
    instants = [start + timedelta(seconds=s) for s in range(0, hours * 3600, step)]
    return instants + [t + timedelta(microseconds=500_000) for t in instants[::3]]


@pytest.mark.parametrize("cron", ["30 2 * * *", "*/15 * * * *", "0 3 29 3 *", "@every 1h"])
def test_next_run_times_reuses_an_answer_only_while_it_holds(cron: str) -> None:
    """Across a DST change the memo must give what a fresh computation gives (it is not
    used there); away from one it is used."""
    zone = "Europe/Rome"
    _walk(cron, zone, _steps(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 6, 449))
    quiet = _steps(datetime(2026, 5, 12, 23, 0, tzinfo=UTC), 6, 449)
    reused = _walk(cron, zone, quiet)
    if cron.startswith("@every"):
        assert reused == 0  # counted from each instant: nothing to reuse
    elif cron == "0 3 29 3 *":
        assert reused == 0  # its next run is ten months away, past two DST changes
    else:
        assert reused > len(quiet) // 2  # the memo was actually used


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        # Shifts that are not one hour, where robfig's answer depends on where its search
        # starts (issue 18): Lord Howe's 30 minutes, Chatham's 45, Troll's 2 hours.
        ("Australia/Lord_Howe", datetime(2025, 10, 3, 0, 0, tzinfo=UTC)),
        ("Australia/Lord_Howe", datetime(2026, 4, 3, 0, 0, tzinfo=UTC)),
        ("Pacific/Chatham", datetime(2025, 9, 26, 0, 0, tzinfo=UTC)),
        ("Pacific/Chatham", datetime(2026, 4, 3, 0, 0, tzinfo=UTC)),
        ("Antarctica/Troll", datetime(2026, 3, 27, 0, 0, tzinfo=UTC)),
        ("Antarctica/Troll", datetime(2025, 10, 24, 0, 0, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize(
    "cron", ["45 1 * * *", "15,45 2 * * *", "0 0 * * *", "30 2 1-5 * *", "0 3 * 4,10 0"]
)
def test_walking_across_odd_shifts_gives_fresh_answers(
    zone: str, start: datetime, cron: str
) -> None:
    _walk(cron, zone, _steps(start, 96, 1741))
