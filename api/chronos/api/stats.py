"""Stats over time (Cronicle's performance graphs) as pure functions of run rows and
``now``: runs per day by result, duration percentiles per day, the success rate over
7 and 30 days, and each day's highest peak CPU and memory of its runs; drawn as inline
SVG (``role="img"`` with a title and a description, shapes that carry their own
``<title>``) that the page follows with the same figures as a data table.

The SVG is built here, escaped with markupsafe, so the drawing is unit-tested; the
pages (job and overview, ``templates/stats.html``) only place it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from chronos.api.runsview import RunRow, cpu_words, memory_words
from chronos.api.uiviews import JUDGED, RAN, duration_words

#: Days drawn, and the windows of the success rate.
DAYS = 30
RATE_WINDOWS = (7, 30)
#: Results drawn, bottom to top (``skipped`` and ``running`` runs are not drawn).
DRAWN = ("succeeded", "failed", "missed", "aborted")
PERCENTILES = (50, 90, 99)
WIDTH = 600
HEIGHT = 120
#: Room at the left for the scale's words.
LEFT = 40


@dataclass(frozen=True)
class Day:
    day: date
    #: Runs by result, in the order of DRAWN.
    counts: tuple[int, ...]
    #: Duration percentiles (PERCENTILES) of the runs that ran (succeeded or failed).
    durations: tuple[float | None, ...]
    peak_cpu_millicores: float | None
    peak_memory_bytes: int | None

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Rate:
    days: int
    succeeded: int
    judged: int

    @property
    def words(self) -> str:
        return f"{100 * self.succeeded / self.judged:.0f} %" if self.judged else "—"


@dataclass(frozen=True)
class Stats:
    days: tuple[Day, ...]
    rates: tuple[Rate, ...]
    zone: str

    @property
    def runs(self) -> int:
        return sum(d.total for d in self.days)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (one of the values; None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(rows: Iterable[RunRow], now: datetime, zone: str, days: int = DAYS) -> Stats:
    """The last ``days`` days (today included, days in ``zone``) of ``rows``."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    counts = {first + timedelta(days=i): dict.fromkeys(DRAWN, 0) for i in range(days)}
    durations: dict[date, list[float]] = {d: [] for d in counts}
    cpu: dict[date, float] = {}
    memory: dict[date, int] = {}
    windows = {n: [0, 0] for n in RATE_WINDOWS}
    for row in rows:
        if row.when is None or row.when > now:
            continue
        day = row.when.astimezone(tz).date()
        for n, tally in windows.items():
            if row.result in JUDGED and day > today - timedelta(days=n):
                tally[0] += row.result == "succeeded"
                tally[1] += 1
        if day not in counts:
            continue
        if row.result in counts[day]:
            counts[day][row.result] += 1
        if row.result in RAN and row.duration is not None:
            durations[day].append(row.duration)
        if row.peak_cpu_millicores is not None:
            cpu[day] = max(cpu.get(day, 0.0), row.peak_cpu_millicores)
        if row.peak_memory_bytes is not None:
            memory[day] = max(memory.get(day, 0), row.peak_memory_bytes)
    out = tuple(
        Day(
            day,
            tuple(tally[r] for r in DRAWN),
            tuple(percentile(durations[day], p) for p in PERCENTILES),
            cpu.get(day),
            memory.get(day),
        )
        for day, tally in counts.items()
    )
    rates = tuple(Rate(n, s, j) for n, (s, j) in windows.items())
    return Stats(out, rates, zone)


# ----------------------------------------------------------------------------- SVG


def _nice(top: float) -> float:
    """A round scale top at or above ``top`` (1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(top))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= top)


def _svg(ident: str, title: str, desc: str, body: list[str], top_words: str) -> Markup:
    parts = [
        f'<svg class="chart" id="{ident}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
        f'<text x="0" y="10" class="scale">{escape(top_words)}</text>',
        f'<text x="0" y="{HEIGHT - 2}" class="scale">0</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" class="axis"/>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def runs_chart(s: Stats, ident: str = "runs-chart") -> Markup:
    """Runs per day, stacked by result (succeeded at the bottom), one bar a day."""
    top = _nice(max((d.total for d in s.days), default=0))
    slot = (WIDTH - LEFT) / max(len(s.days), 1)
    body = []
    for i, d in enumerate(s.days):
        y = float(HEIGHT)
        words = ", ".join(f"{n} {r}" for r, n in zip(DRAWN, d.counts, strict=True) if n)
        for result, n in zip(DRAWN, d.counts, strict=True):
            if not n:
                continue
            h = HEIGHT * n / top
            y -= h
            body.append(
                f'<rect x="{LEFT + i * slot + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" class="bar {result}">'
                f"<title>{escape(d.day.isoformat())}: {escape(words)}</title></rect>"
            )
    first, last = (s.days[0].day, s.days[-1].day) if s.days else (None, None)
    desc = (
        f"{s.runs} runs from {first} to {last} ({s.zone}); bar height: runs that day, "
        "stacked by result: succeeded, failed, missed, aborted. The table below has the figures."
    )
    return _svg(ident, "Runs per day by result", desc, body, f"{top:g}")


def durations_chart(s: Stats, ident: str = "durations-chart") -> Markup:
    """Duration percentiles per day: a line each (p50, p90, p99), a dot per day."""
    values = [v for d in s.days for v in d.durations if v is not None]
    top = _nice(max(values, default=0.0))
    slot = (WIDTH - LEFT) / max(len(s.days), 1)
    body = []
    for k, p in enumerate(PERCENTILES):
        points = []
        for i, d in enumerate(s.days):
            value = d.durations[k]
            if value is None:
                continue
            x, y = LEFT + (i + 0.5) * slot, HEIGHT - HEIGHT * value / top
            points.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="dot p{p}">'
                f"<title>{escape(d.day.isoformat())}: p{p} {escape(duration_words(value))}"
                "</title></circle>"
            )
        if len(points) > 1:
            body.insert(0, f'<polyline points="{" ".join(points)}" class="line p{p}"/>')
    desc = (
        "Duration of the runs that ran (succeeded or failed), per day: the 50th, 90th and "
        f"99th percentile, a line each ({s.zone}). The table below has the figures."
    )
    return _svg(ident, "Duration percentiles per day", desc, body, duration_words(top))


def day_words(d: Day) -> dict[str, str]:
    """A data-table row's cells."""
    out = {r: str(n) for r, n in zip(DRAWN, d.counts, strict=True)}
    for p, value in zip(PERCENTILES, d.durations, strict=True):
        out[f"p{p}"] = duration_words(value)
    out["cpu"] = cpu_words(d.peak_cpu_millicores)
    out["memory"] = memory_words(d.peak_memory_bytes)
    return out
