"""Differential test: the schedule engine, called as the operator and the dashboard call it,
against robfig/cron v3.0.1 itself across the clock changes of every zone.

The operator asks ``next_run_times`` again at every housekeeping round with a later
instant, and the engine may reuse its last answer (``cron._RECENT``). Kubernetes' cron
library computes afresh each time. So each (zone, schedule) is walked through its clock
changes with later and later instants in one process, as the operator does, and every
answer must be what the real ``SpecSchedule.Next`` gives (devcluster/cron-oracle, built
with the project's Go toolchain from the module pinned in its go.sum).

Both sides read the same tz data: the oracle loads each zone from the very TZif file
Python's ``zoneinfo`` reads (``zonedata.tzif_path``, passed to Go's
``time.LoadLocationFromTZData``), so a Go release's tzdata never differs from Python's.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest

from chronos.devcluster import binaries
from chronos.schedule import cron as engine
from chronos.schedule import next_run_times
from chronos.schedule.zonedata import offset_changes, tzif_path

pytestmark = pytest.mark.cluster

#: Schedules whose runs sit where clock changes happen (01:00-03:00, midnight) and one
#: with restricted months and weekday (its search truncates to the month).
CRONS = ["45 1 * * *", "15,45 2 * * *", "0 0 * * *", "0 3 * 4,10 0"]
COUNT = 3
#: Each clock change is walked from two days before to two days after, one call every
#: 97 minutes (not a divisor of an hour, so the calls fall at many minutes of the hour).
#: Without the fix this walk finds Lord Howe's and Troll's wrong previews and 200-odd
#: more (mostly LMT-era changes); Chatham's needs a longer, finer walk, which
#: tests/unit/schedule/test_schedule_cron_next.py makes without Go (a few zones only).
SPAN = timedelta(days=2)
STEP = timedelta(minutes=97)
#: Clock changes in these years; a zone with fewer than two gets its last two ever.
YEARS = (2025, 2027)


def clock_changes(zone: str) -> list[int]:
    changes = offset_changes(zone)
    assert changes is not None, zone  # every zone file of the tz database is understood
    start, end = (int(datetime(y, 1, 1, tzinfo=UTC).timestamp()) for y in YEARS)
    recent = [t for t in changes.between(start, end) if start <= t < end]
    return recent if len(recent) >= 2 else list(changes.listed[-2:])


def walks(zone: str) -> list[list[datetime]]:
    """The instants of each walk through a clock change, in order."""
    out = []
    for change in clock_changes(zone):
        first = datetime.fromtimestamp(change, UTC) - SPAN
        steps = int(2 * SPAN / STEP)
        out.append([first + STEP * i for i in range(steps + 1)])
    return out


def oracle_answers(oracle: Path, questions: list[str]) -> list[str]:
    result = subprocess.run(
        [str(oracle)],
        input="\n".join(questions) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions), result.stderr
    return lines


def distinct_zones() -> list[str]:
    """One name per distinct zone of the tz database: links (``US/Eastern`` for
    ``America/New_York``, ...) name the same file, so walking them again proves nothing."""
    seen: dict[bytes, str] = {}
    for zone in sorted(available_timezones()):
        path = tzif_path(zone)
        assert path is not None, zone
        seen.setdefault(path.read_bytes(), zone)
    return sorted(seen.values())


def test_walking_through_clock_changes_matches_robfig_in_every_zone() -> None:
    oracle = binaries.ensure_cron_oracle()  # built first: a build failure fails fast
    zones = distinct_zones()
    assert len(zones) > 300, len(zones)  # the whole tz database, not a stray subset
    questions: list[str] = []
    ours: list[str] = []
    engine._RECENT.clear()
    for zone in zones:
        path = tzif_path(zone)
        assert path is not None, zone
        location = ZoneInfo(zone)
        for cron in CRONS:
            for walk in walks(zone):
                instants = " ".join(str(int(t.timestamp())) for t in walk)
                questions.append(f"{path}\t{zone}\t{cron}\t{COUNT}\t{instants}")
                # One call after the other with later instants, the memo in use.
                answers = [next_run_times(cron, zone, t.astimezone(location), COUNT) for t in walk]
                ours.append(" ".join(",".join(str(int(r.timestamp())) for r in a) for a in answers))
    theirs = oracle_answers(oracle, questions)
    mismatches = []
    for question, mine, real in zip(questions, ours, theirs, strict=True):
        if mine == real:
            continue
        _, zone, cron, _, instants = question.split("\t")
        for at, a, b in zip(instants.split(), mine.split(" "), real.split(" "), strict=True):
            if a != b:
                mismatches.append(f"{zone} {cron!r} after {at}: ours {a}, robfig {b}")
                break
    assert len(questions) > 5 * len(zones)
    assert mismatches == [], f"{len(mismatches)} walks differ, e.g.:\n" + "\n".join(mismatches[:20])
