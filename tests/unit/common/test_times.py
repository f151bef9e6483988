"""``chronos.times``: the one RFC 3339 formatter and parser of every component."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chronos import runnow
from chronos.times import parse_time, rfc3339

WHEN = datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=UTC)


def test_utc_is_written_with_z_and_whole_seconds_by_default() -> None:
    assert rfc3339(WHEN) == "2026-03-29T01:30:05Z"
    assert rfc3339(WHEN, "microseconds") == "2026-03-29T01:30:05.123456Z"


def test_a_time_in_another_zone_keeps_its_offset() -> None:
    # A schedule preview shows its zone's local times (CEST here, after the change).
    local = WHEN.astimezone(ZoneInfo("Europe/Berlin"))
    assert rfc3339(local) == "2026-03-29T03:30:05+02:00"
    assert parse_time(rfc3339(local)) == WHEN.replace(microsecond=0)


def test_run_now_stamps_are_utc_with_microseconds_whatever_the_zone() -> None:
    east = WHEN.astimezone(timezone(timedelta(hours=5, minutes=45)))
    assert runnow.stamp(east) == "2026-03-29T01:30:05.123456Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-29T01:30:05Z", datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)),
        ("2026-03-29T01:30:05", datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)),
        ("2026-03-29T03:30:05+02:00", datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        ("2026-13-01T00:00:00Z", None),
        (None, None),
        (1774747805, None),
    ],
)
def test_parse_time_reads_rfc3339_and_answers_none_for_anything_else(
    text: object, expected: datetime | None
) -> None:
    assert parse_time(text) == expected


def test_format_then_parse_is_the_same_instant() -> None:
    assert parse_time(rfc3339(WHEN, "microseconds")) == WHEN
