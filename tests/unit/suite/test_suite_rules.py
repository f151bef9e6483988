"""The suite's own rules (tests/conftest.py): the modules that run first, and which
modules a ``-m`` expression lets pytest leave unimported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from clockshift import instants
from conftest import (
    RUNS_FIRST,
    TESTS,
    deselects_all,
    mark_names,
    module_marks,
)
from fixtures_api import quiet_cron, quiet_schedule
from support import wait_to_clear_midnight

from chronos.schedule import next_run_times
from chronos.schedule.friendly import friendly_to_cron


def test_every_module_that_runs_first_exists() -> None:
    # Named by path: a renamed or moved module would silently lose its place.
    missing = [name for name in RUNS_FIRST if not (TESTS / name).is_file()]
    assert missing == [], f"RUNS_FIRST names no module at: {missing}"


def test_a_modules_markers_are_read_without_importing_it(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    body = "\nraise SystemExit('imported')\n"
    module.write_text(
        "import pytest\npytestmark = [pytest.mark.cluster, pytest.mark.realnode]" + body
    )
    assert module_marks(module) == {"cluster", "realnode"}
    module.write_text("import pytest\npytestmark = pytest.mark.cluster" + body)
    assert module_marks(module) == {"cluster"}
    module.write_text("import pytest\n@pytest.mark.cluster\ndef test_x() -> None: ..." + body)
    assert module_marks(module) == set()


def test_only_a_module_whose_every_test_is_deselected_is_left_out() -> None:
    assert deselects_all("not cluster", {"cluster"})
    assert deselects_all("not cluster", {"cluster", "realnode"})
    assert not deselects_all("not cluster", set())
    assert not deselects_all("cluster", {"cluster"})
    # A test of the module may add a marker of its own.
    assert not deselects_all("realnode or slow", {"cluster"})
    assert not deselects_all("cluster and not realnode", {"cluster"})
    assert deselects_all("cluster and not realnode", {"cluster", "realnode"})
    assert deselects_all("not cluster and not images", {"images"})
    assert deselects_all("not (cluster or images)", {"images"})
    assert not deselects_all("not (cluster or images)", set())


def test_an_expression_beyond_names_and_operators_is_collected_as_usual() -> None:
    # pytest's own parser is private: what ours does not read costs the shortcut only.
    assert mark_names("cluster(speed=1)") is None
    assert mark_names("-cluster") is None
    assert mark_names("cluster and") is None
    assert not deselects_all("not cluster(speed=1)", {"cluster"})
    assert mark_names("not (cluster or realnode) and images") == {"cluster", "realnode", "images"}


def test_a_test_counting_today_waits_out_midnight_only_near_it() -> None:
    rome = ZoneInfo("Europe/Rome")
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 12, tzinfo=rome), 90, 60) == 0
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 0, 0, 30, tzinfo=rome), 90, 60) == 60
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 59, 30, tzinfo=rome), 90, 60) == 120
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 59, 30, tzinfo=rome), 0, 60) == 30.5
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 55, tzinfo=rome), 0, 60) == 0
    # the day the clocks go forward is 23 hours long; it still ends at midnight
    spring = datetime(2027, 3, 28, 23, 59, 30, tzinfo=rome)
    assert wait_to_clear_midnight(spring, 90, 60) == 120
    assert wait_to_clear_midnight(datetime(2027, 3, 28, 0, 0, 30, tzinfo=rome), 90, 60) == 60


def test_the_clock_shifted_runs_go_to_the_next_awkward_instants() -> None:
    # tests/clockshift.py (`make test-clock`); from the Saturday this was written on.
    assert instants(datetime(2026, 12, 5, 21, tzinfo=UTC)) == {
        "saturday-night": datetime(2026, 12, 5, 23, 50, tzinfo=UTC),
        "sunday": datetime(2026, 12, 6, 12, tzinfo=UTC),
        "new-year": datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC),
        "europe-spring": datetime(2027, 3, 28, 0, 59, 30, tzinfo=UTC),
        "america-autumn": datetime(2027, 11, 7, 5, 59, 30, tzinfo=UTC),
    }
    later = instants(datetime(2026, 12, 6, 12, 0, 1, tzinfo=UTC))
    assert later["saturday-night"] == datetime(2026, 12, 12, 23, 50, tzinfo=UTC)
    assert later["sunday"] == datetime(2026, 12, 13, 12, tzinfo=UTC)
    # the instants are where the clocks change
    rome, new_york = ZoneInfo("Europe/Rome"), ZoneInfo("America/New_York")
    spring, autumn = later["europe-spring"], later["america-autumn"]
    assert (spring + timedelta(minutes=1)).astimezone(rome).hour == 3
    assert spring.astimezone(rome).hour == 1
    assert (autumn + timedelta(minutes=1)).astimezone(new_york).hour == 1
    assert autumn.astimezone(new_york).utcoffset() == timedelta(hours=-4)
    assert (autumn + timedelta(minutes=1)).astimezone(new_york).utcoffset() == timedelta(hours=-5)
    for at in later.values():
        assert timedelta(0) < at - datetime(2026, 12, 6, 12, 0, 1, tzinfo=UTC) < timedelta(days=365)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 5, 23, 50, tzinfo=UTC),  # Saturday night
        datetime(2026, 12, 6, 12, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 0, 59, 30, tzinfo=UTC),
    ],
)
def test_a_quiet_schedule_has_no_run_for_two_days(now: datetime) -> None:
    schedule = quiet_schedule(now)
    cron = friendly_to_cron(schedule["days_of_week"], schedule["hour"], schedule["minute"])
    assert cron == quiet_cron(now)
    (first,) = next_run_times(cron, "UTC", now, 1)
    assert timedelta(days=2) < first - now <= timedelta(days=3)
