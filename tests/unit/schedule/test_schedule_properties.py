"""Hypothesis property tests for the cron engine and describe()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos.schedule import ScheduleError, describe, next_run_times, parse_cron
from chronos.schedule.cron import CronSchedule

# Zones whose transitions move whole hours and never at midnight: robfig's field-by-field
# search is exact there.
REGULAR_ZONES = [
    "UTC",
    "Europe/Rome",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
]
# Zones with quirks: a 30-minute DST shift, DST at midnight, or a historical day skip.
QUIRKY_ZONES = ["Australia/Lord_Howe", "America/Sao_Paulo", "America/Havana", "Pacific/Apia"]

MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _value(lo: int, hi: int, names: list[str] | None) -> st.SearchStrategy[str]:
    numbers = st.integers(lo, hi).map(str)
    if names is None:
        return numbers
    return numbers | st.sampled_from(names).map(lambda n: n.upper() if len(n) % 2 else n)


@st.composite
def _range_expr(draw: st.DrawFn, lo: int, hi: int, names: list[str] | None) -> str:
    kind = draw(st.sampled_from(["star", "question", "value", "range", "step"]))
    if kind == "star":
        base = "*"
    elif kind == "question":
        base = "?"
    elif kind == "value":
        base = draw(_value(lo, hi, names))
    else:
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        base = f"{a}-{b}"
    if kind == "step" or (draw(st.booleans()) and kind != "question"):
        base = f"{base}/{draw(st.integers(1, hi - lo + 2))}"
    return base


@st.composite
def _field(draw: st.DrawFn, lo: int, hi: int, names: list[str] | None = None) -> str:
    items = draw(st.lists(_range_expr(lo, hi, names), min_size=1, max_size=3))
    return ",".join(items)


@st.composite
def cron_exprs(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from(
                ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
            )
        )
    return " ".join(
        [
            draw(_field(0, 59)),
            draw(_field(0, 23)),
            draw(_field(1, 31)),
            draw(_field(1, 12, MONTH_NAMES)),
            draw(_field(0, 6, DOW_NAMES)),
        ]
    )


@st.composite
def dense_cron_exprs(draw: st.DrawFn) -> str:
    """Schedules that fire at least every day or so, for brute-force comparison."""
    minute = draw(_field(0, 59))
    hour = draw(st.sampled_from(["*", "*/2", "9-17", "0,12", "3", "22-23", "1-4/3"]))
    dow = draw(st.sampled_from(["*", "1-5", "0,6", "mon,wed,fri"]))
    return f"{minute} {hour} * * {dow}"


def _aware(zones: list[str]) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(1995, 1, 1),
        max_value=datetime(2035, 12, 31),
        timezones=st.sampled_from([ZoneInfo(z) for z in zones]),
        allow_imaginary=False,
    )


def _parsed(expr: str) -> CronSchedule:
    return parse_cron(expr)


def _offsets_constant(tz: ZoneInfo, start: int, end: int) -> bool:
    first = datetime.fromtimestamp(start, tz).utcoffset()
    return (
        all(datetime.fromtimestamp(t, tz).utcoffset() == first for t in range(start, end + 1, 900))
        and datetime.fromtimestamp(end, tz).utcoffset() == first
    )


COMMON = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(expr=cron_exprs())
def test_generated_expressions_parse_and_describe(expr: str) -> None:
    schedule = parse_cron(expr)
    assert describe(expr)
    assert schedule.expression == expr


@COMMON
@given(expr=cron_exprs(), after=_aware(REGULAR_ZONES + QUIRKY_ZONES))
def test_next_is_after_and_iteration_strictly_increases(expr: str, after: datetime) -> None:
    schedule = _parsed(expr)
    previous = after
    for _ in range(4):
        found = schedule.next(previous)
        if found is None:
            break
        assert found.timestamp() > previous.timestamp()
        assert found.tzinfo is after.tzinfo
        assert found.microsecond == 0
        assert found.second == 0
        previous = found


@COMMON
@given(expr=cron_exprs(), after=_aware(REGULAR_ZONES))
def test_result_matches_fields_in_local_time(expr: str, after: datetime) -> None:
    schedule = _parsed(expr)
    found = schedule.next(after)
    if found is None:
        return
    assert schedule.matches(found), (expr, after, found)
    assert found.timestamp() <= after.timestamp() + 6 * 366 * 86400


@COMMON
@given(expr=dense_cron_exprs(), after=_aware(REGULAR_ZONES))
def test_no_matching_minute_is_skipped(expr: str, after: datetime) -> None:
    schedule = _parsed(expr)
    found = schedule.next(after)
    assert found is not None
    tz = after.tzinfo
    assert isinstance(tz, ZoneInfo)
    start = int(after.timestamp()) // 60 * 60 + 60
    end = int(found.timestamp())
    horizon = min(end, start + 2 * 86400)
    if not _offsets_constant(tz, start, horizon):
        return  # a DST change in the window: robfig's semantics differ on purpose
    for minute in range(start, horizon, 60):
        local = datetime.fromtimestamp(minute, tz)
        assert not schedule.matches(local), (expr, after, found, local)
    if end == horizon:
        assert schedule.matches(datetime.fromtimestamp(end, tz))


@COMMON
@given(
    expr=cron_exprs(),
    zone=st.sampled_from(REGULAR_ZONES + QUIRKY_ZONES),
    after=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2035, 1, 1),
        timezones=st.just(UTC),
    ),
)
def test_next_run_times_chain(expr: str, zone: str, after: datetime) -> None:
    times = next_run_times(expr, zone, after, 3)
    stamps = [t.timestamp() for t in times]
    assert all(b > a for a, b in zip([after.timestamp(), *stamps], stamps, strict=False))
    assert all(t.tzinfo == ZoneInfo(zone) for t in times)


@COMMON
@given(seconds=st.integers(1, 10 * 86400), after=_aware(REGULAR_ZONES + QUIRKY_ZONES))
def test_every_adds_the_delay(seconds: int, after: datetime) -> None:
    schedule = parse_cron(f"@every {seconds}s")
    found = schedule.next(after)
    assert found is not None
    expected = after.replace(microsecond=0).timestamp() + seconds
    assert found.timestamp() == expected
    # Same-tzinfo datetime arithmetic is wall-clock arithmetic in Python, so compare
    # instants explicitly.
    assert found.timestamp() - after.timestamp() <= timedelta(seconds=seconds).total_seconds()


@COMMON
@given(text=st.text(max_size=30))
def test_parse_cron_only_raises_schedule_error(text: str) -> None:
    error: ScheduleError | None = None
    try:
        schedule = parse_cron(text)
    except ScheduleError as exc:
        error = exc
    if error is not None:
        assert error.field == "schedule.cron"
        assert error.reason
        return
    assert describe(text)
    assert schedule.expression == text
