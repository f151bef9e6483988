"""Speed of the schedule engine as the operator calls it: ``next_run_times`` once per job
per housekeeping round, thousands of jobs sharing a schedule, the instant a little later
at each call.

Stdlib and chronos only. Usage::

    python bench/schedule_engine.py [--rounds N] [--calls N]

For each case (schedule, zone, start instant) one round makes ``--calls`` calls with
instants one second apart from a start, the engine's memo as the operator has it
(``walked``), and the same calls with the memo emptied before each (``fresh``, the
baseline: what every call would cost without reuse). Rounds of the two alternate, so both
are measured under the same conditions; reported are the medians over rounds of the mean
cost per call, and fresh / walked. A case whose window holds a clock change shows the
memo not used there (the ratio near 1).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from chronos.schedule import cron as engine
from chronos.schedule import next_run_times
from chronos.schedule.calendar import Calendar
from chronos.schedule.occurrences import ScheduleRule, TimeRules, slots

COUNT = 5  # status.nextRunTimes (operator/status.py NEXT_RUNS_SHOWN)
CASES = [
    ("0 3 * * *", "Europe/Rome", datetime(2026, 5, 12, 9, 0, tzinfo=UTC)),
    ("*/5 * * * *", "Europe/Rome", datetime(2026, 5, 12, 9, 1, tzinfo=UTC)),
    ("0 3 * * *", "UTC", datetime(2026, 5, 12, 9, 0, tzinfo=UTC)),
    ("30 2 1 * *", "America/New_York", datetime(2026, 5, 12, 9, 0, tzinfo=UTC)),
    ("0 3 * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 9, 0, tzinfo=UTC)),
]


def run(cron: str, zone: str, start: datetime, calls: int, *, fresh: bool) -> float:
    """Mean seconds per call over ``calls`` calls with later and later instants."""
    engine._RECENT.clear()
    instants = [start + timedelta(seconds=i) for i in range(calls)]
    began = time.perf_counter()
    for at in instants:
        if fresh:
            engine._RECENT.clear()
        next_run_times(cron, zone, at, COUNT)
    return (time.perf_counter() - began) / calls


#: ``occurrences.slots`` for a job with ten schedules, five next runs, as the operator
#: asks per job: natively (robfig), in operator mode (a calendar, a DST policy) and RRULEs.
_TEN_CRONS = tuple(ScheduleRule(f"s{i}", f"{i * 5} {i % 24} * * *", None) for i in range(10))
_TEN_RRULES = tuple(
    ScheduleRule(f"r{i}", None, f"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR={i};BYMINUTE=0") for i in range(10)
)
SLOTS_CASES = [
    ("10 cron, native", TimeRules(_TEN_CRONS, "Europe/Rome")),
    (
        "10 cron, calendar+RunOnce",
        TimeRules(
            _TEN_CRONS,
            "Europe/Rome",
            calendar=Calendar("weekends", weekdays=frozenset({5, 6})),
            on_excluded="NextBusinessDay",
            fall_back="RunOnce",
        ),
    ),
    ("10 RRULE", TimeRules(_TEN_RRULES, "Europe/Rome")),
]


def run_slots(rules: TimeRules, start: datetime, calls: int) -> float:
    """Mean seconds per ``slots(rules, at, limit=5)`` call, the instant a second later
    each time."""
    began = time.perf_counter()
    for i in range(calls):
        slots(rules, start + timedelta(seconds=i), limit=5, runs_only=True)
    return (time.perf_counter() - began) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(f"next_run_times(..., count={COUNT}), {args.calls} calls a round, {args.rounds} rounds")
    print(f"{'schedule':<14} {'zone':<22} {'walked µs':>10} {'fresh µs':>10} {'fresh/walked':>13}")
    for cron, zone, start in CASES:
        walked, fresh = [], []
        for _ in range(args.rounds):
            walked.append(run(cron, zone, start, args.calls, fresh=False))
            fresh.append(run(cron, zone, start, args.calls, fresh=True))
        w, f = statistics.median(walked) * 1e6, statistics.median(fresh) * 1e6
        print(f"{cron:<14} {zone:<22} {w:>10.1f} {f:>10.1f} {f / w:>13.1f}")
    calls = max(1, args.calls // 10)
    print(f"\noccurrences.slots(..., limit=5), {calls} calls a round, {args.rounds} rounds")
    print(f"{'job':<28} {'µs per call':>12}")
    start = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)
    for name, rules in SLOTS_CASES:
        per_call = statistics.median(run_slots(rules, start, calls) for _ in range(args.rounds))
        print(f"{name:<28} {per_call * 1e6:>12.0f}")


if __name__ == "__main__":
    main()
