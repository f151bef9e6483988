"""What the plugin prints, as pure functions of the objects read and an injected "now"
and viewer's zone (so every line is unit-tested without a cluster or the wall clock).

The columns of ``get`` are the CRD's own printer columns (``chronos.models.crd``), read
with the same JSONPath subset they are written in, plus the next run in the viewer's
local time: what ``kubectl get chronosjobs`` shows, and one column kubectl cannot.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from chronos.models.chronosjob import RunRecord
from chronos.models.crd import PRINTER_COLUMNS
from chronos.schedule.dst import transitions
from chronos.schedule.occurrences import Slot
from chronos.times import parse_time

#: The column the plugin adds to the printer columns.
LOCAL_NEXT_RUN = "Next Run (Local)"
#: Cells of free text (messages) are cut to this many characters in tables.
MESSAGE_WIDTH = 60
#: How many close names an unknown job's error suggests.
SUGGESTIONS = 3

# ------------------------------------------------------------------------- JSONPath

_SEGMENT = re.compile(r'\.([A-Za-z0-9_]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\]')


def jsonpath(obj: Any, path: str) -> Any:
    """The value at ``path`` (the printer columns' subset: ``.a.b``, ``[0]``,
    ``[?(@.key=="value")]``), or None where anything along it is missing."""
    current = obj
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {position}")
        position = match.end()
        key, index, field, value = match.groups()
        if key is not None:
            current = current.get(key) if isinstance(current, dict) else None
        elif index is not None:
            i = int(index)
            current = current[i] if isinstance(current, list) and i < len(current) else None
        else:
            found = [
                item
                for item in (current if isinstance(current, list) else [])
                if isinstance(item, dict) and item.get(field) == value
            ]
            current = found[0] if found else None
        if current is None:
            return None
    return current


# ------------------------------------------------------------------------- times


def human_duration(delta: timedelta) -> str:
    """kubectl's short durations: ``45s``, ``3m``, ``5h``, ``12d``, ``2y``."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    return f"{days}d" if days < 730 else f"{days // 365}y"


def relative(when: datetime, now: datetime) -> str:
    """``in 3h`` or ``5m ago``."""
    return (
        f"in {human_duration(when - now)}" if when >= now else f"{human_duration(now - when)} ago"
    )


def local_time(when: datetime, viewer: tzinfo) -> str:
    """``2026-12-07 07:30 CET``: an instant on the viewer's clock."""
    return when.astimezone(viewer).strftime("%Y-%m-%d %H:%M %Z").strip()


def viewer_name(viewer: tzinfo) -> str:
    return (
        viewer.key if isinstance(viewer, ZoneInfo) else (datetime.now(viewer).tzname() or "local")
    )


# ------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A kubectl-style table: upper-case headers, columns three spaces apart."""
    lines = [[h.upper() for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def cut(text: str | None, width: int = MESSAGE_WIDTH) -> str:
    """One line of at most ``width`` characters (``…`` where cut)."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _cell(value: Any, kind: str, now: datetime) -> str:
    if value is None:
        return ""
    if kind == "date":
        when = parse_time(value)
        return human_duration(now - when) if when else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def next_run_local(obj: dict[str, Any], viewer: tzinfo, now: datetime) -> str:
    """The job's next run (status.nextRunTimes[0]) on the viewer's clock, and how far."""
    when = parse_time(jsonpath(obj, ".status.nextRunTimes[0]"))
    if when is None:
        return ""
    return f"{local_time(when, viewer)} ({relative(when, now)})"


def get_table(
    objs: Sequence[dict[str, Any]],
    *,
    viewer: tzinfo,
    now: datetime,
    wide: bool = False,
    all_namespaces: bool = False,
) -> str:
    """``kubectl chronos get``: the CRD's printer columns (``-o wide``: those of priority
    1 too), the next run in the viewer's zone after the CRD's Next Run."""
    columns = [c for c in PRINTER_COLUMNS if wide or not c.get("priority")]
    headers = ["Name"] + [c["name"] for c in columns]
    at = headers.index("Next Run") + 1
    headers.insert(at, LOCAL_NEXT_RUN)
    if all_namespaces:
        headers.insert(0, "Namespace")
    rows = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        row = [str(meta.get("name", ""))]
        row += [_cell(jsonpath(obj, c["jsonPath"]), c["type"], now) for c in columns]
        row.insert(at, next_run_local(obj, viewer, now))
        if all_namespaces:
            row.insert(0, str(meta.get("namespace", "")))
        rows.append(row)
    return table(headers, rows)


# ------------------------------------------------------------------------- runs


def slot_lines(
    slots: Sequence[Slot], zone: str, viewer: tzinfo, now: datetime, *, numbered: bool = True
) -> list[str]:
    """Each slot on the job's clock (with its offset) and on the viewer's, its note
    (DST, calendar), and a line where the zone's clocks change between two slots."""
    place = ZoneInfo(zone)
    same = viewer_name(viewer) == zone
    lines: list[str] = []
    previous = now
    for i, slot in enumerate(slots, 1):
        for change in transitions(place, previous, slot.instant):
            lines.append(f"  ── DST: {change.describe()} ──")
        previous = slot.instant
        if slot.action == "skip":
            # The wall time it would have run at (a DST gap's may not exist at all).
            text = f"{slot.wall:%a %Y-%m-%d %H:%M}   SKIPPED"
        else:
            wall = slot.instant.astimezone(place)
            text = f"{wall:%a %Y-%m-%d %H:%M} {wall:%Z}".rstrip() + f" ({_offset(slot.offset)})"
            if not same:
                text += f"   you: {local_time(slot.instant, viewer)}"
            text += f"   {relative(slot.instant, now)}"
        if slot.note:
            text += f"   [{slot.note}]"
        lines.append(f"  {i:>2}. {text}" if numbered else f"  {text}")
    return lines


def _offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _duration(record: RunRecord) -> str:
    if record.duration_seconds is not None:
        return f"{record.duration_seconds:.1f}s"
    if record.start_time and record.end_time:
        return f"{(record.end_time - record.start_time).total_seconds():.1f}s"
    return ""


def history_table(records: Sequence[RunRecord], viewer: tzinfo, now: datetime) -> str:
    """status.history, newest first: run, trigger, result and reason, when (viewer's
    clock), duration and message."""
    rows = []
    for r in records:
        when = r.start_time or r.scheduled_time or r.end_time
        rows.append(
            [
                r.run_id,
                r.trigger.value,
                r.result.value,
                r.reason or "",
                f"{local_time(when, viewer)} ({relative(when, now)})" if when else "",
                _duration(r),
                cut(r.message),
            ]
        )
    headers = ["Run", "Trigger", "Result", "Reason", "Started", "Duration", "Message"]
    return table(headers, rows)


def conditions_table(conditions: Sequence[dict[str, Any]], now: datetime) -> str:
    rows = []
    for c in conditions:
        since = parse_time(c.get("lastTransitionTime"))
        rows.append(
            [
                str(c.get("type", "")),
                str(c.get("status", "")),
                str(c.get("reason", "")),
                human_duration(now - since) if since else "",
                cut(c.get("message")),
            ]
        )
    return table(["Type", "Status", "Reason", "Age", "Message"], rows)


# ------------------------------------------------------------------------- describe


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def describe_text(
    obj: dict[str, Any],
    *,
    schedule_words: str,
    zone: str,
    slots: Sequence[Slot],
    history: Sequence[RunRecord],
    viewer: tzinfo,
    now: datetime,
    notes: Sequence[str] = (),
    last: int = 5,
) -> str:
    """``kubectl chronos describe``: the job, its schedule in words, the next runs with
    the DST changes between them, its conditions and its last ``last`` runs."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    task = spec.get("task") or {}
    lines = [
        f"Name:         {meta.get('name', '')}",
        f"Namespace:    {meta.get('namespace', '')}",
        f"Task:         {task.get('type', '')}"
        + (f" (pipeline {task['pipelineId']})" if task.get("pipelineId") else ""),
        f"Enabled:      {'true' if spec.get('enabled', True) else 'false'}",
    ]
    if spec.get("suspendUntil"):
        reason = f" ({spec['suspendReason']})" if spec.get("suspendReason") else ""
        lines.append(f"Suspended:    until {spec['suspendUntil']}{reason}")
    lines += [
        f"Schedule:     {status.get('cron') or '(not applied yet)'}",
        f"              {schedule_words}",
        f"Time Zone:    {zone} (times below: the job's clock; 'you:' {viewer_name(viewer)})",
        "",
        f"Next {len(slots)} runs:",
    ]
    lines += slot_lines(slots, zone, viewer, now) or ["  (none: the job never runs again)"]
    lines += [f"  note: {n}" for n in notes]
    lines += ["", "Conditions:"]
    conditions = status.get("conditions") or []
    lines += _indent(conditions_table(conditions, now)) if conditions else ["  (none yet)"]
    lines += ["", f"Last runs (newest first, {min(last, len(history))} of {len(history)}):"]
    shown = list(history)[:last]
    lines += _indent(history_table(shown, viewer, now)) if shown else ["  (no runs yet)"]
    return "\n".join(lines)


# ------------------------------------------------------------------------- errors


def close_names(name: str, names: Iterable[str]) -> list[str]:
    """The names most like ``name`` (a typo's likely meaning), best first."""
    return difflib.get_close_matches(name, sorted(set(names)), n=SUGGESTIONS, cutoff=0.5)


def not_found(name: str, namespace: str, close: Sequence[str]) -> str:
    text = f'chronosjob "{name}" not found in namespace "{namespace}"'
    if close:
        text += "; did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
    return text


def where(namespace: str | None) -> str:
    return "in all namespaces" if namespace is None else f'in namespace "{namespace}"'


def forbidden(verb: str, resource: str, namespace: str | None) -> str:
    """The message of an RBAC denial: which verb on what, where (never the raw answer)."""
    return (
        f"forbidden: you may not {verb} {resource} {where(namespace)} "
        f"(Kubernetes RBAC: ask for verb {verb!r} on {resource})"
    )
