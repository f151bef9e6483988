"""The Runs page (Cronicle's Completed tab) as pure functions: every run of the jobs a
caller may read, newest first, filtered, paged and exported as CSV or JSON.

The route (``chronos.api.ui.runs``) gives the ChronosJobs of the namespaces the caller
may list (from the facade's watch cache); everything here is computed from those plain
dicts and the query's text, so it is unit-tested without a cluster. A run's record is
``status.lastRun`` and ``status.history`` (bounded by the CRD to a hundred a job).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from chronos.api.mapping import run_records
from chronos.api.settings import DNS_LABEL
from chronos.api.uiviews import Filters, JobRow, record_time
from chronos.models.jobstatus import RunResult, RunTrigger
from chronos.models.wire import (
    DURATION_SECONDS,
    END_TIME,
    PEAK_CPU_MILLICORES,
    PEAK_MEMORY_BYTES,
    RUN_ID,
    SCHEDULED_TIME,
    START_TIME,
    ChronosJobDict,
    RunRecordDict,
    StatusDict,
)
from chronos.times import parse_time, rfc3339
from chronos.usage import format_cpu, format_memory

#: Runs per page of the Runs page (and of an export asked for one page).
PAGE = 100
#: The most rows one export holds: a hundred runs per job, so 50,000 is 500 full jobs.
EXPORT_MAX = 50_000
#: Bounds on the query's free-text parameters (a selector, a job name or id).
MAX_TEXT = 253
MAX_LABEL = 1024
#: Results and triggers a filter may name (the CRD's own enums: one home).
RESULTS = tuple(r.value for r in RunResult)
TRIGGERS = tuple(t.value for t in RunTrigger)
_NAMESPACE = re.compile(DNS_LABEL)
#: A label selector as the jobs page takes it: ``key`` or ``key=value``, comma-separated.
_SELECTOR = re.compile(r"^[A-Za-z0-9._/=, -]*$")
#: The columns of the exports, in order (CSV header and JSON keys alike).
COLUMNS = (
    "namespace",
    "job_id",
    "job_name",
    "run_id",
    "trigger",
    "result",
    "scheduled_time",
    "start_time",
    "end_time",
    "duration_seconds",
    "reason",
    "message",
    "peak_cpu_millicores",
    "peak_memory_bytes",
)
#: A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class FilterError(ValueError):
    """Query parameters that are not a filter: ``(field, reason)`` pairs for a 422."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))
        self.problems = problems


@dataclass(frozen=True)
class RunRow:
    namespace: str
    job_id: str
    job_name: str
    labels: tuple[tuple[str, str], ...]
    run_id: str
    trigger: str
    result: str
    #: When it happened: its end, else its start, else its slot (the sort key).
    when: datetime | None
    scheduled: datetime | None
    started: datetime | None
    ended: datetime | None
    duration: float | None
    reason: str
    message: str
    peak_cpu_millicores: float | None
    peak_memory_bytes: int | None


@dataclass(frozen=True)
class RunFilters:
    result: str = ""
    trigger: str = ""
    #: Part of the job's id or name (case-insensitive).
    job: str = ""
    namespace: str = ""
    label: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def match(self, row: RunRow) -> bool:
        needle = self.job.strip().lower()
        return (
            (not self.result or row.result == self.result)
            and (not self.trigger or row.trigger == self.trigger)
            and (not needle or needle in row.job_id or needle in row.job_name.lower())
            and (not self.namespace or row.namespace == self.namespace)
            and (self.since is None or (row.when is not None and row.when >= self.since))
            and (self.until is None or (row.when is not None and row.when < self.until))
            and (not self.label or Filters(label=self.label).label_match(dict(row.labels)))
        )

    def params(self) -> dict[str, str]:
        """The filters as the query that gives them (for page and export links)."""
        out = {
            "result": self.result,
            "trigger": self.trigger,
            "job": self.job,
            "namespace": self.namespace,
            "label": self.label,
            "since": rfc3339(self.since) if self.since else "",
            "until": rfc3339(self.until) if self.until else "",
        }
        return {k: val for k, val in out.items() if val}


def _moment(text: str, end: bool) -> datetime:
    """A day (``2026-03-01``: its start, or for ``end`` the next day's start, so the
    range holds the whole day) or an instant; naive values are UTC."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(), UTC)
        return start + timedelta(days=1) if end else start
    when = parse_time(text)  # naive times are UTC
    if when is None:
        raise ValueError("not a date (YYYY-MM-DD) or a time (RFC 3339)")
    return when


def parse_filters(query: Mapping[str, str]) -> RunFilters:
    """The filters of a query; FilterError naming each bad field (never a 500)."""
    problems: list[tuple[str, str]] = []

    def text(key: str, limit: int = MAX_TEXT) -> str:
        value = query.get(key, "") or ""
        if len(value) > limit:
            problems.append((key, f"at most {limit} characters"))
            return ""
        return value

    result, trigger = text("result"), text("trigger")
    if result and result not in RESULTS:
        problems.append(("result", f"must be one of {', '.join(RESULTS)}"))
    if trigger and trigger not in TRIGGERS:
        problems.append(("trigger", f"must be one of {', '.join(TRIGGERS)}"))
    namespace, job = text("namespace"), text("job")
    if namespace and not _NAMESPACE.match(namespace):
        problems.append(("namespace", "not a namespace name"))
    label = text("label", MAX_LABEL)
    if label and not _SELECTOR.match(label):
        problems.append(("label", "key or key=value, separated by commas"))
    moments: dict[str, datetime | None] = {}
    for key in ("since", "until"):
        value = text(key, 64)
        moments[key] = None
        if value:
            try:
                moments[key] = _moment(value, end=key == "until")
            except ValueError as e:
                problems.append((key, str(e)))
    since, until = moments["since"], moments["until"]
    if since is not None and until is not None and since >= until:
        problems.append(("until", "must be after since"))
    if problems:
        raise FilterError(problems)
    return RunFilters(result, trigger, job, namespace, label, since, until)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def run_row(job: JobRow, record: RunRecordDict) -> RunRow:
    cpu = _number(record.get(PEAK_CPU_MILLICORES))
    memory = _number(record.get(PEAK_MEMORY_BYTES))
    return RunRow(
        namespace=job.namespace,
        job_id=job.id,
        job_name=job.name,
        labels=tuple(sorted(job.labels.items())),
        run_id=str(record.get(RUN_ID) or ""),
        trigger=str(record.get("trigger") or ""),
        result=str(record.get("result") or ""),
        when=record_time(record),
        scheduled=parse_time(record.get(SCHEDULED_TIME)),
        started=parse_time(record.get(START_TIME)),
        ended=parse_time(record.get(END_TIME)),
        duration=_number(record.get(DURATION_SECONDS)),
        reason=str(record.get("reason") or ""),
        message=str(record.get("message") or ""),
        peak_cpu_millicores=cpu,
        peak_memory_bytes=None if memory is None else int(memory),
    )


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _job_runs(obj: ChronosJobDict, job: JobRow) -> list[RunRow]:
    status: StatusDict = obj.get("status") or {}
    return [run_row(job, record) for record in run_records(status)]


def newest_first(rows: list[RunRow]) -> list[RunRow]:
    """``rows`` newest first (ties: namespace, job, run id), sorted in place."""
    rows.sort(key=lambda r: (r.namespace, r.job_id, r.run_id))
    rows.sort(key=lambda r: r.when or _OLDEST, reverse=True)
    return rows


def run_rows(jobs: Iterable[tuple[ChronosJobDict, JobRow]]) -> list[RunRow]:
    """Every recorded run of ``jobs``, newest first."""
    return newest_first([r for obj, job in jobs for r in _job_runs(obj, job)])


class RowCache:
    """Each job's rows, kept while its resourceVersion stays: a change of one job
    rebuilds its hundred rows, not every job's (the Runs page and the overview's stats
    over 10,000 runs, bench/runs_page.py). Emptied when full."""

    def __init__(self, size: int = 20_000) -> None:
        self._rows: dict[tuple[str, str], tuple[str, list[RunRow]]] = {}
        self._size = size

    def rows(self, jobs: Iterable[tuple[ChronosJobDict, JobRow]]) -> list[RunRow]:
        out: list[RunRow] = []
        for obj, job in jobs:
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            key = (job.namespace, job.id)
            kept = self._rows.get(key)
            if kept is None or not version or kept[0] != version:
                if len(self._rows) >= self._size:
                    self._rows.clear()
                kept = self._rows[key] = (version, _job_runs(obj, job))
            out += kept[1]
        return newest_first(out)


#: The facade's one cache of run rows (what it holds is the watch cache's, by version).
row_cache = RowCache()


# -------------------------------------------------------------------------- exports


def _cells(row: RunRow) -> dict[str, Any]:
    return {
        "namespace": row.namespace,
        "job_id": row.job_id,
        "job_name": row.job_name,
        "run_id": row.run_id,
        "trigger": row.trigger,
        "result": row.result,
        "scheduled_time": rfc3339(row.scheduled) if row.scheduled else None,
        "start_time": rfc3339(row.started) if row.started else None,
        "end_time": rfc3339(row.ended) if row.ended else None,
        "duration_seconds": row.duration,
        "reason": row.reason or None,
        "message": row.message or None,
        "peak_cpu_millicores": row.peak_cpu_millicores,
        "peak_memory_bytes": row.peak_memory_bytes,
    }


def neutral(cell: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula (``=``,
    ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe (OWASP's CSV
    injection advice). Numbers are written by us and never negative, so never touched."""
    if cell is None:
        return ""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return repr(cell) if isinstance(cell, float) else str(cell)
    text = str(cell)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def export_csv(rows: Iterable[RunRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells = _cells(row)
        writer.writerow([neutral(cells[c]) for c in COLUMNS])
    return out.getvalue()


def export_json(rows: Iterable[RunRow], total: int) -> str:
    """``{"total": n, "items": [...]}``: ``total`` counts the filtered runs, the items
    are those exported (all of them, or one page)."""
    return json.dumps({"total": total, "items": [_cells(r) for r in rows]}, ensure_ascii=False)


# --------------------------------------------------------------------------- words


def cpu_words(millicores: float | None) -> str:
    """A run's peak CPU in the words of the overview's "Running now"."""
    return "—" if millicores is None else format_cpu(Decimal(str(millicores)) / 1000)


def memory_words(size: float | None) -> str:
    return "—" if size is None else format_memory(Decimal(int(size)))
