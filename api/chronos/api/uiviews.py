"""What the dashboard's pages show, as pure functions of ChronosJobs and the time.

The routes (``chronos.api.ui``) fetch from the watch cache and the services; everything
here is computed from plain dicts (the resource and its REST view from
``chronos.api.mapping.job_view``) and ``now``, so it is unit-tested without a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from chronos.api.mapping import run_records
from chronos.models.wire import (
    ACTIVE_RUN_STARTS,
    ACTIVE_RUNS,
    DURATION_SECONDS,
    END_TIME,
    LOG_TAIL,
    RUN_ID,
    SCHEDULED_TIME,
    START_TIME,
    ActiveRunDict,
    ChronosJobDict,
    EntityResultDict,
    RunRecordDict,
    StatusDict,
)
from chronos.schedule import ScheduleError, next_run_times
from chronos.times import parse_time

#: Upcoming runs listed per job and in all on the overview (a job firing every minute
#: would otherwise list 1,440 runs a day).
UPCOMING_PER_JOB = 24
UPCOMING_MAX = 100
PROBLEMS_MAX = 10
HISTORY_PAGE = 20
JOBS_PAGE = 100
STATES = ("enabled", "suspended")


def record_time(record: RunRecordDict) -> datetime | None:
    """When a run happened: its end, else its start, else its slot."""
    for key in (END_TIME, START_TIME, SCHEDULED_TIME):
        found = parse_time(record.get(key))
        if found is not None:
            return found
    return None


def duration_words(seconds: float | None) -> str:
    """``75`` -> ``"1 min 15 s"``; ``None`` -> ``"—"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(when: datetime | None, now: datetime) -> str:
    """``"in 5 min"`` or ``"3 h ago"`` (``"—"`` for no time)."""
    if when is None:
        return "—"
    delta = (when - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    words = duration_words(abs(delta))
    return f"in {words}" if delta > 0 else f"{words} ago"


# ------------------------------------------------------------------------- job rows


@dataclass(frozen=True)
class JobRow:
    namespace: str
    id: str
    name: str
    description: str
    task_type: str
    words: str
    cron: str
    zone: str
    enabled: bool
    labels: dict[str, str]
    last_result: str | None
    last_when: datetime | None
    next_run: datetime | None
    #: The next few runs the REST view already computed (and caches until one passes).
    next_runs: tuple[datetime, ...]
    running: int
    message: str | None

    @property
    def state(self) -> str:
        return "enabled" if self.enabled else "suspended"


def job_row(obj: ChronosJobDict, view: dict[str, Any]) -> JobRow:
    metadata = obj.get("metadata") or {}
    status: StatusDict = obj.get("status") or {}
    records = run_records(status)
    last = records[0] if records else None
    return JobRow(
        namespace=str(metadata.get("namespace") or ""),
        id=str(metadata.get("name") or ""),
        name=str(view.get("name") or metadata.get("name") or ""),
        description=str(view.get("description") or ""),
        task_type=str(view.get("task_type") or ""),
        words=str(view.get("schedule_description") or ""),
        cron=str(view.get("cron_expression") or ""),
        zone=str(view.get("timezone") or ""),
        enabled=bool(view.get("enabled")),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        last_result=str(last.get("result")) if last else None,
        last_when=record_time(last) if last else None,
        next_run=parse_time(view.get("next_run")),
        next_runs=tuple(t for t in map(parse_time, view.get("next_run_times") or []) if t),
        running=len(status.get(ACTIVE_RUNS) or []),
        message=view.get("status_message"),
    )


@dataclass(frozen=True)
class Filters:
    name: str = ""
    namespace: str = ""
    label: str = ""
    task_type: str = ""
    state: str = ""

    def label_match(self, labels: dict[str, str]) -> bool:
        """``key`` (present) or ``key=value``; several separated by commas, all must hold."""
        for part in (p.strip() for p in self.label.split(",")):
            if not part:
                continue
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if key not in labels or (sep and labels[key] != value):
                return False
        return True

    def match(self, row: JobRow) -> bool:
        needle = self.name.strip().lower()
        return (
            (not needle or needle in row.name.lower() or needle in row.id)
            and (not self.namespace or row.namespace == self.namespace)
            and (not self.task_type or row.task_type == self.task_type)
            and (not self.state or row.state == self.state)
            and self.label_match(row.labels)
        )


# ------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class Upcoming:
    when: datetime
    row: JobRow


@dataclass(frozen=True)
class Problem:
    when: datetime | None
    row: JobRow
    result: str
    reason: str
    message: str


@dataclass(frozen=True)
class Running:
    row: JobRow
    run_id: str
    started: datetime | None


@dataclass
class Overview:
    total: int = 0
    enabled: int = 0
    suspended: int = 0
    succeeded_today: int = 0
    failed_today: int = 0
    missed_today: int = 0
    #: Stopped on request (issue 20): not a failure, so outside the success rate.
    aborted_today: int = 0
    durations: list[float] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)
    upcoming: list[Upcoming] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def success_rate(self) -> str:
        done = self.succeeded_today + self.failed_today + self.missed_today
        return f"{100 * self.succeeded_today / done:.0f} %" if done else "—"

    @property
    def average_duration(self) -> str:
        if not self.durations:
            return "—"
        return duration_words(sum(self.durations) / len(self.durations))


#: Run times by (cron, zone): when they were computed from, and the times. The engine's
#: answer depends only on those and the start, so a stored list that starts before
#: ``now`` and reaches past the window answers the window exactly.
_HORIZON: dict[tuple[str, str], tuple[datetime, list[datetime]]] = {}
_HORIZON_MAX = 10_000


def _runs_until(cron: str, zone: str, now: datetime, end: datetime) -> list[datetime]:
    count = 2 * UPCOMING_PER_JOB
    stored = _HORIZON.get((cron, zone))
    if stored is not None:
        start, times = stored
        if start <= now and (len(times) < count or times[-1] >= end):
            return [t for t in times if now < t <= end]
    times = next_run_times(cron, zone, now, count)
    if len(_HORIZON) >= _HORIZON_MAX:
        _HORIZON.clear()
    _HORIZON[(cron, zone)] = (now, times)
    return [t for t in times if t <= end]


def upcoming_runs(row: JobRow, now: datetime, hours: float = 24) -> list[datetime]:
    """The job's runs in the next ``hours`` (at most UPCOMING_PER_JOB), by the schedule
    engine in the job's zone: the runs its view already holds, and more from the engine
    only when all of those fall inside the window (a job that fires more often)."""
    if not row.enabled or not row.cron:
        return []
    end = now + timedelta(hours=hours)
    known = [t for t in row.next_runs if t > now]
    if known and known[-1] > end:
        return [t for t in known if t <= end]
    try:
        return _runs_until(row.cron, row.zone, now, end)[:UPCOMING_PER_JOB]
    except (ScheduleError, ValueError):
        return []


def overview(jobs: list[tuple[ChronosJobDict, JobRow]], now: datetime, zone: str) -> Overview:
    """Counts, today's runs (the day in ``zone``), running now, upcoming and problems."""
    out = Overview()
    today = now.astimezone(ZoneInfo(zone)).date()
    problems: list[Problem] = []
    for obj, row in jobs:
        out.total += 1
        if row.enabled:
            out.enabled += 1
        else:
            out.suspended += 1
        status: StatusDict = obj.get("status") or {}
        records = run_records(status)
        by_id = {str(r.get(RUN_ID)): r for r in records}
        active = active_run_starts(status)
        for run_id in map(str, status.get(ACTIVE_RUNS) or []):
            record = by_id.get(run_id) or active.get(run_id) or {}
            out.running.append(Running(row, run_id, parse_time(record.get(START_TIME))))
        for record in records:
            result = record.get("result")
            when = record_time(record)
            if when is not None and when.astimezone(ZoneInfo(zone)).date() == today:
                if result == "succeeded":
                    out.succeeded_today += 1
                elif result == "failed":
                    out.failed_today += 1
                elif result == "missed":
                    out.missed_today += 1
                elif result == "aborted":
                    out.aborted_today += 1
                duration = record.get(DURATION_SECONDS)
                if isinstance(duration, int | float) and result in ("succeeded", "failed"):
                    out.durations.append(float(duration))
            if result in ("failed", "missed"):
                problems.append(
                    Problem(
                        when,
                        row,
                        str(result),
                        str(record.get("reason") or ""),
                        str(record.get("message") or ""),
                    )
                )
        out.upcoming += [Upcoming(t, row) for t in upcoming_runs(row, now)]
    out.upcoming.sort(key=lambda u: (u.when, u.row.namespace, u.row.id))
    del out.upcoming[UPCOMING_MAX:]
    oldest = datetime.min.replace(tzinfo=ZoneInfo("UTC"))
    problems.sort(key=lambda p: p.when or oldest, reverse=True)
    out.problems = problems[:PROBLEMS_MAX]
    out.running.sort(key=lambda r: (r.started or oldest, r.row.id))
    return out


# ----------------------------------------------------------------------- job detail


@dataclass(frozen=True)
class NextRun:
    when: datetime
    #: Set when the zone's UTC offset differs from the run before: a DST change lies
    #: between them (so a wall-clock slot in between may be skipped or doubled).
    dst_note: str | None


def _offset(when: datetime) -> str:
    off = when.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def next_runs_marked(times: list[datetime]) -> list[NextRun]:
    """``times`` (from the schedule engine, in the job's zone) with a note on each run
    that follows a change of the zone's UTC offset: clocks forward (a slot in the
    skipped hour does not run that day) or back (a slot in the repeated hour runs twice,
    as the CronJob controller does)."""
    out: list[NextRun] = []
    for i, when in enumerate(times):
        note = None
        before = times[i - 1] if i else None
        if before is not None and before.utcoffset() != when.utcoffset():
            change = f"{_offset(before)} → {_offset(when)}"
            if before.replace(tzinfo=None) == when.replace(tzinfo=None):
                note = f"clocks go back ({change}): this time occurs twice and runs twice"
            elif (when.utcoffset() or timedelta(0)) > (before.utcoffset() or timedelta(0)):
                note = f"clocks go forward ({change}): a slot in the skipped hour does not run"
            else:
                note = f"clocks go back ({change})"
        out.append(NextRun(when, note))
    return out


STATS_RUNS = 50
#: Results that count for the success rate, and those whose duration is the task's.
JUDGED = ("succeeded", "failed", "missed")
RAN = ("succeeded", "failed")
CHART_WIDTH = 600
CHART_HEIGHT = 100


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    result: str
    label: str


@dataclass(frozen=True)
class RunStats:
    """Of the last STATS_RUNS finished runs, oldest first: Cronicle's event stats."""

    runs: int
    succeeded: int
    average: str
    bars: tuple[Bar, ...]
    summary: str
    #: Runs that ended on their own (aborted ones were stopped on request: not counted
    #: for or against the success rate).
    judged: int = 0

    @property
    def success_rate(self) -> str:
        return f"{100 * self.succeeded / self.judged:.0f} %" if self.judged else "—"


def run_stats(records: list[RunRecordDict]) -> RunStats:
    """Success rate, average duration and a bar per run (height: its duration) for an
    inline SVG chart, from run records newest first (``status.history``)."""
    done = [r for r in records if r.get("result") in (*JUDGED, "aborted")]
    done = list(reversed(done[:STATS_RUNS]))
    durations = [
        float(d) if isinstance(d := r.get(DURATION_SECONDS), int | float) else 0.0 for r in done
    ]
    timed = [d for r, d in zip(done, durations, strict=True) if r.get("result") in RAN]
    longest = max(durations, default=0.0) or 1.0
    slot = CHART_WIDTH / max(len(done), 1)
    bars = []
    for i, (record, seconds) in enumerate(zip(done, durations, strict=True)):
        height = max(2.0, CHART_HEIGHT * seconds / longest)
        result = str(record.get("result"))
        when = record_time(record)
        label = f"{when.isoformat() if when else record.get(RUN_ID)}: {result}, "
        label += duration_words(seconds if result != "missed" else None)
        bars.append(
            Bar(i * slot + 1, CHART_HEIGHT - height, max(slot - 2, 1), height, result, label)
        )
    average = duration_words(sum(timed) / len(timed)) if timed else "—"
    summary = (
        f"Duration of the last {len(done)} runs: longest {duration_words(max(timed))}, "
        f"shortest {duration_words(min(timed))}"
        if timed
        else "No finished runs yet"
    )
    succeeded = sum(1 for r in done if r.get("result") == "succeeded")
    judged = sum(1 for r in done if r.get("result") in JUDGED)
    return RunStats(len(done), succeeded, average, tuple(bars), summary, judged)


@dataclass(frozen=True)
class Paging:
    page: int
    pages: int
    skip: int
    size: int


def paging(total: int, page: int, size: int = HISTORY_PAGE) -> Paging:
    """Page ``page`` (1-based, clamped) of ``total`` items."""
    pages = max(1, math.ceil(total / size))
    page = min(max(page, 1), pages)
    return Paging(page, pages, (page - 1) * size, size)


def page_link(path: str, params: dict[str, str], page: int) -> str:
    """``path`` with the non-empty ``params`` (filters) and ``page``."""
    query = {k: val for k, val in params.items() if val and k not in ("page", "done")}
    return f"{path}?{urlencode({**query, 'page': page})}"


def safe_next(target: str | None, default: str) -> str:
    """A redirect target only within the dashboard (no open redirect)."""
    if not target or not target.startswith("/ui/") or target.startswith("/ui//"):
        return default
    return default if any(c in target for c in "\\\r\n") else target


# ------------------------------------------------------------------------- run page

#: The run page's banner per state: a CSS class, an icon and words (never colour alone).
BANNERS = {
    "running": ("run", "▶", "Running"),
    "succeeded": ("ok", "✓", "Succeeded"),
    "failed": ("bad", "✗", "Failed"),
    "missed": ("warn", "!", "Missed: this slot never ran"),
    "aborted": ("calm", "■", "Aborted: stopped on request before it ended"),
}


@dataclass(frozen=True)
class RunView:
    run_id: str
    state: str
    css: str
    icon: str
    words: str
    trigger: str
    scheduled: datetime | None
    started: datetime | None
    ended: datetime | None
    duration: str
    reason: str
    message: str
    entities: tuple[EntityResultDict, ...]
    log_tail: str
    #: A chain run's cause: the upstream run that started it (issue 20).
    cause: Cause | None = None
    #: A run-now's parameters, as (words, value) pairs (issue 20).
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def active(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class Cause:
    """The upstream run that started a chain run (``cause``: job, runId, result)."""

    job: str
    run_id: str
    result: str


def cause_of(record: RunRecordDict) -> Cause | None:
    cause = record.get("cause")
    if not isinstance(cause, dict) or not cause.get("job"):
        return None
    return Cause(
        str(cause.get("job")), str(cause.get(RUN_ID) or ""), str(cause.get("result") or "")
    )


#: Run-now parameters (``RunParametersDict``) in words, in the order shown.
PARAMETER_WORDS = (
    ("entityIds", "Entities"),
    ("groupIds", "Groups"),
    ("withSnapshot", "With snapshot"),
    ("snapshotWriteMethod", "Snapshot write method"),
    ("asOf", "As of"),
)


def parameters_of(record: RunRecordDict) -> tuple[tuple[str, str], ...]:
    given = record.get("parameters")
    if not isinstance(given, dict):
        return ()
    out = []
    for key, words in PARAMETER_WORDS:
        value = given.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            text = ", ".join(map(str, value))
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        out.append((words, text))
    return tuple(out)


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    trigger: str
    started: datetime | None


def active_runs(status: StatusDict) -> list[ActiveRun]:
    """The job's active runs (``status.activeRuns``) with what started each and when."""
    starts = active_run_starts(status)
    out = []
    for run_id in map(str, status.get(ACTIVE_RUNS) or []):
        start = starts.get(run_id) or {}
        out.append(
            ActiveRun(run_id, str(start.get("trigger") or ""), parse_time(start.get(START_TIME)))
        )
    return out


def active_run_starts(status: StatusDict) -> dict[str, ActiveRunDict]:
    """What started each active run and when, by run id (``status.activeRunStarts``)."""
    return {
        str(item.get(RUN_ID)): item
        for item in status.get(ACTIVE_RUN_STARTS) or []
        if isinstance(item, dict)
    }


def find_run(status: StatusDict, run_id: str) -> tuple[RunRecordDict | None, bool]:
    """The run's record (lastRun or history) and whether the job lists it as active. An
    active run has no record until it ends: its start comes from the operator's list."""
    record = next((r for r in run_records(status) if str(r.get(RUN_ID)) == run_id), None)
    active = run_id in (status.get(ACTIVE_RUNS) or [])
    if record is None and active:
        start = active_run_starts(status).get(run_id)
        record = None if start is None else _as_record(start)
    return record, active


def _as_record(start: ActiveRunDict) -> RunRecordDict:
    """An active run's start as the record it has until the runner writes one: the
    keys the two shapes share (an ActiveRun has no others)."""
    record: RunRecordDict = {}
    if RUN_ID in start:
        record[RUN_ID] = start[RUN_ID]
    if "trigger" in start:
        record["trigger"] = start["trigger"]
    if START_TIME in start:
        record[START_TIME] = start[START_TIME]
    return record


def run_view(run_id: str, record: RunRecordDict | None, active: bool, now: datetime) -> RunView:
    """What the run page shows of a run. A run the job lists as active is running even
    before the runner reports (it writes its record when it ends)."""
    record = record or {}
    state = "running" if active else str(record.get("result") or "running")
    css, icon, words = BANNERS.get(state, ("", "?", state))
    started = parse_time(record.get(START_TIME))
    ended = parse_time(record.get(END_TIME))
    seconds = record.get(DURATION_SECONDS)
    if not isinstance(seconds, int | float):
        seconds = (now - started).total_seconds() if started and state == "running" else None
    return RunView(
        run_id=run_id,
        state=state,
        css=css,
        icon=icon,
        words=words,
        trigger=str(record.get("trigger") or ""),
        scheduled=parse_time(record.get(SCHEDULED_TIME)),
        started=started,
        ended=ended,
        duration=duration_words(seconds),
        reason=str(record.get("reason") or ""),
        message=str(record.get("message") or ""),
        entities=tuple(e for e in record.get("entities") or [] if isinstance(e, dict)),
        log_tail=str(record.get(LOG_TAIL) or ""),
        cause=cause_of(record),
        parameters=parameters_of(record),
    )
