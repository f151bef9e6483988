"""The shortest gap between runs, and the minimum interval the operator and API enforce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import builders
import pytest

from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import NEVER_FIRES_MESSAGE, resolve_schedule
from chronos.schedule import ScheduleError, parse_cron
from chronos.schedule.errors import ScheduleTooFrequentError
from chronos.schedule.interval import format_seconds, shortest_interval


@pytest.mark.parametrize(
    ("cron", "gap"),
    [
        ("* * * * *", timedelta(minutes=1)),
        ("*/5 * * * *", timedelta(minutes=5)),
        ("0,10,15 * * * *", timedelta(minutes=5)),
        ("@every 90m", timedelta(minutes=90)),
        ("@hourly", timedelta(hours=1)),
        ("@daily", timedelta(days=1)),
        ("0 9 * * mon-fri", timedelta(days=1)),
        # 23:00 then 00:00 the next day: an hour apart when adjacent days both run...
        ("0 0,23 * * *", timedelta(hours=1)),
        ("0,59 0,23 1,2 * *", timedelta(minutes=1)),
        # ...but not when only Mondays do.
        ("0 0,23 * * mon", timedelta(hours=23)),
        ("0 0 30 2 *", timedelta(days=1)),
    ],
)
def test_shortest_interval(cron: str, gap: timedelta) -> None:
    assert shortest_interval(parse_cron(cron)) == gap


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 59, 60, 90, 3600, 5400, 86400)] == [
        "0s",
        "59s",
        "1m",
        "1m30s",
        "1h",
        "1h30m",
        "24h",
    ]


def spec(schedule: dict[str, object]) -> ChronosJobSpec:
    """A spec with this schedule and no time zone of its own."""
    return builders.spec_model(schedule=schedule, timeZone=None)


def test_a_raised_minimum_rejects_closer_runs_naming_the_field() -> None:
    assert resolve_schedule(spec({"cron": "*/5 * * * *"}), "UTC", 300).cron == "*/5 * * * *"
    with pytest.raises(ScheduleTooFrequentError) as info:
        resolve_schedule(spec({"cron": "*/4 * * * *"}), "UTC", 300)
    assert info.value.field == "schedule.cron"
    assert "4m apart" in info.value.reason
    assert "CHRONOS_MIN_INTERVAL_SECONDS" in info.value.reason
    assert isinstance(info.value, ScheduleError)  # callers that know only ScheduleError
    with pytest.raises(ScheduleTooFrequentError):
        resolve_schedule(spec({"cron": "@every 2m"}), "UTC", 300)
    # The friendly form runs at most daily, which no allowed minimum (≤ 1 day) forbids.
    assert resolve_schedule(spec({"hour": 1, "minute": 0}), "UTC", 86400).cron == "0 1 * * *"


def test_a_schedule_that_never_fires_is_recognised() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    never = resolve_schedule(spec({"cron": "0 0 30 2 *"}), "UTC")
    assert never.never_fires(now)
    assert "never fires" in NEVER_FIRES_MESSAGE.format(cron=never.cron)
    assert not resolve_schedule(spec({"cron": "0 0 29 2 *"}), "UTC").never_fires(now)
    assert not resolve_schedule(spec({"cron": "@every 1h"}), "UTC").never_fires(now)
