"""friendly_to_cron: the original Chronos friendly-schedule conversion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from chronos.schedule import WEEKDAYS, ScheduleError, friendly_to_cron, parse_cron


@pytest.mark.parametrize(
    ("days", "hour", "minute", "expected"),
    [
        (["monday", "wednesday", "friday"], 8, 30, "30 8 * * 1,3,5"),
        ([], 8, 30, "30 8 * * *"),
        (["sunday", "monday"], 0, 0, "0 0 * * 0,1"),
        (["monday", "sunday"], 0, 0, "0 0 * * 0,1"),
        (["saturday"], 23, 59, "59 23 * * 6"),
        (["sunday"], 12, 5, "5 12 * * 0"),
        (["friday", "friday", "FRIDAY"], 7, 0, "0 7 * * 5"),
        (["Monday", "TUESDAY", "wEdNeSdAy"], 9, 15, "15 9 * * 1,2,3"),
        (list(WEEKDAYS), 6, 45, "45 6 * * 0,1,2,3,4,5,6"),
        (("tuesday", "thursday"), 18, 0, "0 18 * * 2,4"),
    ],
)
def test_conversion(days: Sequence[str], hour: int, minute: int, expected: str) -> None:
    cron = friendly_to_cron(days, hour, minute)
    assert cron == expected
    parse_cron(cron)  # always a valid Kubernetes schedule


def test_weekdays() -> None:
    assert WEEKDAYS == (
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    )


@pytest.mark.parametrize(
    ("days", "hour", "minute", "field"),
    [
        ([], -1, 0, "schedule.hour"),
        ([], 24, 0, "schedule.hour"),
        ([], True, 0, "schedule.hour"),
        ([], 8.0, 0, "schedule.hour"),
        ([], 8, -1, "schedule.minute"),
        ([], 8, 60, "schedule.minute"),
        ([], 8, False, "schedule.minute"),
        (["mon"], 8, 0, "schedule.daysOfWeek"),
        (["funday"], 8, 0, "schedule.daysOfWeek"),
        ([""], 8, 0, "schedule.daysOfWeek"),
        ([" monday"], 8, 0, "schedule.daysOfWeek"),
        ([1], 8, 0, "schedule.daysOfWeek"),
        ("monday", 8, 0, "schedule.daysOfWeek"),
    ],
)
def test_invalid(days: Any, hour: Any, minute: Any, field: str) -> None:
    with pytest.raises(ScheduleError) as info:
        friendly_to_cron(days, hour, minute)
    assert info.value.field == field


def test_unknown_day_reason_names_value_and_allowed() -> None:
    with pytest.raises(ScheduleError) as info:
        friendly_to_cron(["monday", "funday"], 8, 0)
    assert "'funday'" in info.value.reason
    for day in WEEKDAYS:
        assert day in info.value.reason
