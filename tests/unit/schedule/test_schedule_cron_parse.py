"""Accept/reject tables for parse_cron (robfig/cron v3 ParseStandard + Kubernetes TZ rule)."""

from __future__ import annotations

import pickle

import pytest

from chronos.schedule import CronSchedule, ScheduleError, parse_cron
from chronos.schedule.cron import (
    DOM,
    DOW,
    HOURS,
    MINUTES,
    MONTHS,
    STAR_BIT,
    _all,
    _Bounds,
    _get_bits,
    _get_field,
    _get_range,
    _go_fields,
    _parse,
    parse_go_duration,
)

# --- robfig parser_test.go: TestRange / TestField / TestBits ------------------------


@pytest.mark.parametrize(
    ("expr", "lo", "hi", "expected"),
    [
        ("5", 0, 7, 1 << 5),
        ("0", 0, 7, 1 << 0),
        ("7", 0, 7, 1 << 7),
        ("5-5", 0, 7, 1 << 5),
        ("5-6", 0, 7, 1 << 5 | 1 << 6),
        ("5-7", 0, 7, 1 << 5 | 1 << 6 | 1 << 7),
        ("5-6/2", 0, 7, 1 << 5),
        ("5-7/2", 0, 7, 1 << 5 | 1 << 7),
        ("5-7/1", 0, 7, 1 << 5 | 1 << 6 | 1 << 7),
        ("*", 1, 3, 1 << 1 | 1 << 2 | 1 << 3 | STAR_BIT),
        ("*/2", 1, 3, 1 << 1 | 1 << 3),  # v3: a step > 1 drops the star bit
        ("*/1", 1, 3, 1 << 1 | 1 << 2 | 1 << 3 | STAR_BIT),  # ... a step of 1 keeps it
        ("?", 1, 3, 1 << 1 | 1 << 2 | 1 << 3 | STAR_BIT),
        ("5/2", 0, 7, 1 << 5 | 1 << 7),  # "N/step" means "N-max/step"
        ("*-2", 0, 7, 0xFF | STAR_BIT),  # quirk: "-2" after a star is ignored
        ("*-x/2", 0, 7, 1 << 0 | 1 << 2 | 1 << 4 | 1 << 6),
        ("+5", 0, 7, 1 << 5),  # strconv.Atoi accepts a leading plus sign
        ("005", 0, 7, 1 << 5),
    ],
)
def test_get_range(expr: str, lo: int, hi: int, expected: int) -> None:
    assert _get_range(expr, _Bounds(lo, hi)) == expected


@pytest.mark.parametrize(
    ("expr", "lo", "hi", "expected"),
    [
        ("5", 1, 7, 1 << 5),
        ("5,6", 1, 7, 1 << 5 | 1 << 6),
        ("5,6,7", 1, 7, 1 << 5 | 1 << 6 | 1 << 7),
        ("1,5-7/2,3", 1, 7, 1 << 1 | 1 << 5 | 1 << 7 | 1 << 3),
        ("1,,3", 1, 7, 1 << 1 | 1 << 3),  # strings.FieldsFunc drops empty items
        (",", 1, 7, 0),
    ],
)
def test_get_field(expr: str, lo: int, hi: int, expected: int) -> None:
    assert _get_field(expr, _Bounds(lo, hi)) == expected


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        (MINUTES, 0xFFFFFFFFFFFFFFF),
        (HOURS, 0xFFFFFF),
        (DOM, 0xFFFFFFFE),
        (MONTHS, 0x1FFE),
        (DOW, 0x7F),
    ],
)
def test_all_bits(bounds: _Bounds, expected: int) -> None:
    assert _all(bounds) == expected | STAR_BIT


@pytest.mark.parametrize(
    ("lo", "hi", "step", "expected"),
    [(0, 0, 1, 0x1), (1, 1, 1, 0x2), (1, 5, 2, 0x2A), (1, 4, 2, 0xA), (0, 59, 1, (1 << 60) - 1)],
)
def test_get_bits(lo: int, hi: int, step: int, expected: int) -> None:
    assert _get_bits(lo, hi, step) == expected


# --- parsed schedules ----------------------------------------------------------------


def _every5min() -> tuple[int, int, int, int, int, int]:
    return (1, 1 << 5, _all(HOURS), _all(DOM), _all(MONTHS), _all(DOW))


def _fields(s: CronSchedule) -> tuple[int, int, int, int, int, int]:
    return (s.second, s.minute, s.hour, s.dom, s.month, s.dow)


def test_parse_schedule_tables() -> None:
    # robfig TestParseSchedule / TestStandardSpecSchedule (without the TZ= prefixes).
    assert _fields(parse_cron("5 * * * *")) == _every5min()
    assert _fields(_parse("0 5 * * * *", with_seconds=True)) == _every5min()
    assert _fields(parse_cron("@midnight")) == (1, 1, 1, _all(DOM), _all(MONTHS), _all(DOW))
    assert parse_cron("@every 5m").every_seconds == 300
    assert _fields(parse_cron("5 * * * *")) == _fields(_parse("0 5 * * * *", with_seconds=True))


@pytest.mark.parametrize(
    ("descriptor", "fields"),
    [
        ("@yearly", (1, 1, 1, 1 << 1, 1 << 1, _all(DOW))),
        ("@annually", (1, 1, 1, 1 << 1, 1 << 1, _all(DOW))),
        ("@monthly", (1, 1, 1, 1 << 1, _all(MONTHS), _all(DOW))),
        ("@weekly", (1, 1, 1, _all(DOM), _all(MONTHS), 1 << 0)),
        ("@daily", (1, 1, 1, _all(DOM), _all(MONTHS), _all(DOW))),
        ("@midnight", (1, 1, 1, _all(DOM), _all(MONTHS), _all(DOW))),
        ("@hourly", (1, 1, _all(HOURS), _all(DOM), _all(MONTHS), _all(DOW))),
    ],
)
def test_descriptors(descriptor: str, fields: tuple[int, ...]) -> None:
    schedule = parse_cron(descriptor)
    assert _fields(schedule) == fields
    assert schedule.every_seconds is None
    assert schedule.expression == descriptor


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("@every 5m", 300),
        ("@every 1h30m", 5400),
        ("@every 1.5h", 5400),
        ("@every 90s", 90),
        ("@every 1500ms", 1),  # truncated to whole seconds
        ("@every 0s", 1),  # below one second becomes one second
        ("@every 0", 1),
        ("@every -5m", 1),  # negative durations parse, then become one second
        ("@every 1ns", 1),
        ("@every 2h45m30.5s", 9930),
        ("@every 1\u00b5s", 1),
        ("@every 1\u03bcs", 1),
        ("@every +10m", 600),
        ("@every 1h1h", 7200),
    ],
)
def test_every(expr: str, seconds: int) -> None:
    schedule = parse_cron(expr)
    assert schedule.is_every
    assert schedule.every_seconds == seconds
    assert schedule.every is not None
    assert schedule.every.total_seconds() == seconds


ACCEPTED = [
    "* * * * *",
    "? ? ? ? ?",
    "0 0 * * *",
    "30 8 * * 1,3,5",
    "*/15 * * * *",
    "0/15 * * * *",
    "5/15 * * * *",
    "20-35/15 * * * *",
    "0 9-17 * * mon-fri",
    "0 9-17 * * MON-FRI",
    "0 9-17 * * Mon-Fri",
    "0 0 1 jan,jul *",
    "0 0 1 JAN-dec/3 *",
    "0 0 1 * sun",
    "0 0 1 * sat",
    "0 0 31 * *",
    "59 23 31 12 6",
    "0 0 29 feb *",
    "0 0 30 2 *",  # valid syntax, never fires
    "0 0 * * */2",
    "0 0 1-31/2 * *",
    "* * * * * ",
    "  * * * * *",
    "*\t*\n*\v*\f*",
    "*\u00a0*\u3000*\u2003*\u0085*",
    "+5 * * * *",
    "*-5 * * * *",
    "*-garbage * * * *",
    "1,,2 * * * *",
    ", * * * *",
    "0 0 * * 0-6",
    "0 0 * * 1-1",
    "0/60 * * * *",  # step bigger than the range is fine
    "0 0 ? * MON",
    "0 */1 * * *",
    "0000000000000000000005 * * * *",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "@every 1h",
    "@every 10s",
    "@every 0s",
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_accepted(expr: str) -> None:
    schedule = parse_cron(expr)
    assert schedule.expression == expr


REJECTED = [
    # (expression, fragment of the reason)
    ("", "empty spec string"),
    ("   ", "expected exactly 5 fields, found 0: []"),
    ("xyz", "expected exactly 5 fields, found 1: [xyz]"),
    ("* * * *", "expected exactly 5 fields, found 4"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("0 0 * * * *", "expected exactly 5 fields, found 6"),
    ("60 0 * * *", "end of range (60) above maximum (59): 60"),
    ("0 60 * * *", "end of range (60) above maximum (23): 60"),
    ("0 24 * * *", "end of range (24) above maximum (23): 24"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("0 0 32 * *", "end of range (32) above maximum (31): 32"),
    ("0 0 * 0 *", "beginning of range (0) below minimum (1): 0"),
    ("0 0 * 13 *", "end of range (13) above maximum (12): 13"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),  # no 7-for-Sunday in v3.0.1
    ("0 0 * * 1-7", "end of range (7) above maximum (6): 1-7"),
    ("0 0 * * XYZ", "failed to parse int from XYZ"),
    ("0 0 * * sunday", "failed to parse int from sunday"),
    ("0 0 * january *", "failed to parse int from january"),
    ("0 0 jan * *", "failed to parse int from jan"),  # names only in their own field
    ("0 0 * * mon#1", "failed to parse int from mon#1"),
    ("H * * * *", 'failed to parse int from H: strconv.Atoi: parsing "H": invalid syntax'),
    ("H/5 * * * *", "failed to parse int from H"),
    ("0 0 L * *", "failed to parse int from L"),
    ("0 0 15W * *", "failed to parse int from 15W"),
    ("0 0 * * 5L", "failed to parse int from 5L"),
    ("0-0-0 * * * *", "too many hyphens: 0-0-0"),
    ("*/5/5 * * * *", "too many slashes: */5/5"),
    ("59-2 * * * *", "beginning of range (59) beyond end of range (2): 59-2"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("15/0 * * * *", "step of range should be a positive number: 15/0"),
    ("0 0 0/0 * *", "beginning of range (0) below minimum (1): 0/0"),
    ("*/-5 * * * *", "negative number (-5) not allowed: -5"),
    ("-5 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
    ("5- * * * *", "failed to parse int from "),
    ("*/ * * * *", "failed to parse int from "),
    ("/5 * * * *", "failed to parse int from "),
    ("1.5 * * * *", "failed to parse int from 1.5"),
    ("0x10 * * * *", "failed to parse int from 0x10"),
    ("1_0 * * * *", "failed to parse int from 1_0"),
    ("\uff15 * * * *", "failed to parse int from \uff15"),  # Go only takes ASCII digits
    ("99999999999999999999 * * * *", "value out of range"),
    ("*\x1c* * * * *", "failed to parse int from *\x1c*"),  # U+001C is not a Go space
    ("@Daily", "unrecognized descriptor: @Daily"),
    ("@daily ", "unrecognized descriptor: @daily "),
    (" @daily", "expected exactly 5 fields, found 1: [@daily]"),
    ("@reboot", "unrecognized descriptor: @reboot"),
    ("@every", "unrecognized descriptor: @every"),
    ("@every ", 'failed to parse duration @every : time: invalid duration ""'),
    ("@every 5", 'time: missing unit in duration "5"'),
    ("@every 5d", 'time: unknown unit "d" in duration "5d"'),
    ("@every 1h ", 'time: unknown unit "h " in duration "1h "'),
    ("@every  1h", 'time: invalid duration " 1h"'),
    ("@every .s", 'time: invalid duration ".s"'),
    ("@every -", 'time: invalid duration "-"'),
    ("@every 9999999999h", 'time: invalid duration "9999999999h"'),
    # Kubernetes: any "TZ" in the schedule is rejected when timeZone is used.
    ("TZ=UTC 0 0 * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    ("CRON_TZ=UTC 0 0 * * *", "cannot use TZ or CRON_TZ"),
    ("TZ=Europe/Rome @daily", "cannot use TZ or CRON_TZ"),
    ("TZ=UTC", "cannot use TZ or CRON_TZ"),  # would panic in robfig v3.0.1
    ("0 0 * * TZ", "cannot use TZ or CRON_TZ"),
]


@pytest.mark.parametrize(("expr", "fragment"), REJECTED)
def test_rejected(expr: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_cron(expr)
    assert info.value.field == "schedule.cron"
    assert fragment in info.value.reason
    assert str(info.value) == f"schedule.cron: {info.value.reason}"
    assert isinstance(info.value, ValueError)


def test_lowercase_tz_is_not_the_kubernetes_rule() -> None:
    # Kubernetes' check is case-sensitive; robfig then rejects the extra field.
    with pytest.raises(ScheduleError) as info:
        parse_cron("tz=UTC 0 0 * * *")
    assert "expected exactly 5 fields" in info.value.reason


def test_error_is_picklable() -> None:
    err = ScheduleError("timeZone", "unknown time zone Mars/Base")
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.field, clone.reason, str(clone)) == (err.field, err.reason, str(err))


def test_seconds_parser_used_by_robfig_tests() -> None:
    assert _fields(_parse("0 5 * * *", with_seconds=True)) == (
        1,
        1 << 5,
        _all(HOURS),
        _all(DOM),
        _all(MONTHS),
        _all(DOW),
    )
    with pytest.raises(Exception, match="expected 5 to 6 fields, found 4"):
        _parse("* * * *", with_seconds=True)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("a b", ["a", "b"]),
        ("  a\t\tb  ", ["a", "b"]),
        ("a\u00a0b\u2028c", ["a", "b", "c"]),
        ("a\x1cb", ["a\x1cb"]),
        ("", []),
    ],
)
def test_go_fields(text: str, fields: list[str]) -> None:
    assert _go_fields(text) == fields


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("5s", 5 * 10**9),
        ("30s", 30 * 10**9),
        ("1478s", 1478 * 10**9),
        ("-5s", -5 * 10**9),
        ("+5s", 5 * 10**9),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5 * 10**9),
        ("5.6s", 5 * 10**9 + 600 * 10**6),
        ("5.s", 5 * 10**9),
        (".5s", 500 * 10**6),
        ("1.0s", 10**9),
        ("1.00s", 10**9),
        ("1.004s", 10**9 + 4 * 10**6),
        ("1.0040s", 10**9 + 4 * 10**6),
        ("100.00100s", 100 * 10**9 + 1 * 10**6),
        ("10ns", 10),
        ("11us", 11 * 10**3),
        ("12\u00b5s", 12 * 10**3),
        ("12\u03bcs", 12 * 10**3),
        ("13ms", 13 * 10**6),
        ("14s", 14 * 10**9),
        ("15m", 15 * 60 * 10**9),
        ("16h", 16 * 3600 * 10**9),
        ("3h30m", (3 * 3600 + 30 * 60) * 10**9),
        ("10.5s4m", (4 * 60 + 10) * 10**9 + 500 * 10**6),
        ("-2m3.4s", -((2 * 60 + 3) * 10**9 + 400 * 10**6)),
        ("1h2m3s4ms5us6ns", 3723004005006),
        ("39h9m14.425s", 140954425 * 10**6),
        ("52763797000ns", 52763797000),
        ("0.3333333333333333333h", 20 * 60 * 10**9),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("9223372036854775.807us", (1 << 63) - 1),
        ("9223372036s854ms775us807ns", (1 << 63) - 1),
        ("-9223372036854775808ns", -(1 << 63)),
        ("-9223372036854775.808us", -(1 << 63)),
        ("-9223372036s854ms775us808ns", -(1 << 63)),
        ("0.100000000000000000000h", 6 * 60 * 10**9),
        ("0.830103483285477580700h", 49 * 60 * 10**9 + 48 * 10**9 + 372539827),
    ],
)
def test_parse_go_duration(text: str, nanos: int) -> None:
    # Go's time_test.go parseDurationTests.
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "\x85\x85",
        "\xffff",
        "hello \xffff world",
        "9223372036854775808ns",
        "9223372036854775.808us",
        "9223372036854ms775us808ns",
        "-9223372036854775809ns",
    ],
)
def test_parse_go_duration_errors(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)
