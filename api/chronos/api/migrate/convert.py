"""Pure conversion of old-Chronos jobs (REST shape) into ChronosJob manifests.

The mapping itself is the REST facade's: a job read from the old Chronos is a job body
the facade would accept on ``POST /api/jobs`` (``schemas.JobCreate``, whose read-only
response fields it drops), turned into a spec by ``mapping.apply_request`` and judged by
``services.validate_spec``, exactly as the facade judges a create. What is added here is
only what a migration needs: a stable name per old id, the old Chronos's global time
zone, the CoreHub reference, and, when a job cannot be converted, the closest form that
can; when it can, where croniter (what the old Chronos ran) and Kubernetes disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from chronos.api.errors import ProblemError
from chronos.api.mapping import RequestShapeError, apply_request, slugify
from chronos.api.schemas import READ_ONLY_FIELDS, JobCreate
from chronos.api.services import validate_spec
from chronos.models.chronosjob import GROUP, KIND, MIN_EVERY_SECONDS, VERSION
from chronos.schedule import (
    WEEKDAYS,
    ScheduleError,
    friendly_to_cron,
    next_run_times,
    parse_cron,
)

#: On each migrated ChronosJob: the old Chronos's integer id of the job it came from.
#: A re-run applies only onto a job carrying the same id (never takes over another).
MIGRATED_FROM_ANNOTATION = f"{GROUP}/migrated-from-id"
#: How many next runs are compared between croniter and Kubernetes.
COMPARED_RUNS = 10
#: The fields a job body may carry (everything else the old Chronos answers is read-only).
BODY_FIELDS = frozenset(JobCreate.model_fields)
#: Where the schedule's errors are reported (the REST facade's field names).
CRON_FIELDS = ("cron_expression", "schedule")

_DOW_NAMES = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
_TZ_PREFIX = re.compile(r"^(?:CRON_)?TZ=(\S+)\s+(.*)$")
_NUMBER = re.compile(r"^[0-9]{1,2}$")


@dataclass(frozen=True)
class Suggestion:
    """The closest form Kubernetes accepts: ``cron`` or ``rrule`` (a ChronosJob's
    ``schedule.rrule``), and whether it means exactly what the old Chronos ran."""

    form: str
    value: str
    exact: bool
    note: str = ""


@dataclass(frozen=True)
class Disagreement:
    """The next runs croniter and Kubernetes compute for one cron (aware, in the zone)."""

    croniter: list[datetime]
    kubernetes: list[datetime]

    @property
    def first(self) -> int:
        pairs = zip(self.croniter, self.kubernetes, strict=False)
        return next((i for i, (a, b) in enumerate(pairs) if a != b), 0)


@dataclass
class Conversion:
    """One old job: its manifest, or why there is none."""

    old_id: Any
    old_name: str
    name: str | None = None
    manifest: dict[str, Any] | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    suggestion: Suggestion | None = None
    notes: list[str] = field(default_factory=list)
    disagreement: Disagreement | None = None

    @property
    def converted(self) -> bool:
        return self.manifest is not None


def job_name(old_id: int, old_name: str) -> str:
    """A stable name: the facade's id stem of the old name, then the old integer id
    (the old Chronos allowed two jobs of one name; the id keeps them apart forever)."""
    return f"{slugify(old_name)}-{old_id}"


def friendly_of(cron: str) -> dict[str, Any] | None:
    """The friendly form the old Chronos turned into ``cron``, when it is one
    (``friendly_to_cron`` gives ``cron`` back): ``30 8 * * 1,3,5`` -> monday, ..."""
    parts = cron.split()
    if len(parts) != 5 or parts[2:4] != ["*", "*"]:
        return None
    minute, hour, dow = parts[0], parts[1], parts[4]
    if not (_NUMBER.match(minute) and _NUMBER.match(hour)):
        return None
    numbers = [] if dow == "*" else dow.split(",")
    if not all(n.isdigit() and int(n) < len(_DOW_NAMES) for n in numbers):
        return None
    days = [_day(int(n)) for n in numbers]
    if not 0 <= int(hour) <= 23 or not 0 <= int(minute) <= 59:
        return None
    if friendly_to_cron(days, int(hour), int(minute)) != cron:
        return None
    return {"days_of_week": days, "hour": int(hour), "minute": int(minute)}


def _day(number: int) -> str:
    """The weekday of a cron day-of-week number (0 Sunday ... 6 Saturday)."""
    return WEEKDAYS[(number - 1) % 7]


def _body(old: Mapping[str, Any], time_zone: str) -> tuple[dict[str, Any], list[str]]:
    """The job body the facade would take, and the fields of ``old`` left out."""
    body = {k: v for k, v in old.items() if k in BODY_FIELDS and v is not None}
    ignored = sorted(k for k in old if k not in BODY_FIELDS and k not in READ_ONLY_FIELDS)
    cron = old.get("cron_expression")
    if old.get("is_cron_expression") is False and "schedule" not in body and isinstance(cron, str):
        friendly = friendly_of(cron)
        if friendly is not None:
            body["schedule"] = friendly
            body.pop("cron_expression")
    elif old.get("is_cron_expression") is True:
        body.pop("schedule", None)
    body["timezone"] = time_zone
    return body, ignored


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]


def convert(
    old: Mapping[str, Any],
    *,
    namespace: str | None,
    time_zone: str,
    now: datetime,
    corehub: Mapping[str, Any] | None = None,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
) -> Conversion:
    """One old job as a ChronosJob manifest (``namespace`` None: none in the manifest),
    or the reasons it cannot be one. ``now``: where the compared next runs start."""
    old_id, old_name = old.get("id"), old.get("name")
    result = Conversion(old_id=old_id, old_name=old_name if isinstance(old_name, str) else "")
    if not isinstance(old_id, int) or isinstance(old_id, bool) or old_id < 0:
        result.errors.append(("id", "not a non-negative integer"))
        return result
    if not isinstance(old_name, str) or not old_name:
        result.errors.append(("name", "missing"))
        return result
    result.name = name = job_name(old_id, old_name)
    body, ignored = _body(old, time_zone)
    if ignored:
        result.notes.append(f"fields not carried over: {', '.join(ignored)}")
    try:
        sent = JobCreate.model_validate(body).model_dump(exclude_unset=True)
        spec: dict[str, Any] = dict(apply_request({}, sent))
    except ValidationError as exc:
        result.errors.extend(_pydantic_errors(exc))
        return result
    except RequestShapeError as exc:
        result.errors.append((exc.field, exc.reason))
        return result
    if corehub is not None:
        spec["coreHub"] = dict(corehub)
    job = (namespace or "default", name)
    try:
        validate_spec(spec, time_zone, min_interval_seconds, job)
    except ProblemError as exc:
        result.errors.extend(exc.errors or [("spec", exc.detail)])
        cron = (spec.get("schedule") or {}).get("cron")
        if isinstance(cron, str) and any(f in CRON_FIELDS for f, _ in result.errors):
            result.suggestion = closest_valid(cron, spec, time_zone, min_interval_seconds, job)
        return result
    if not spec.get("enabled", True):
        result.notes.append("disabled in the old Chronos: kept disabled (spec.enabled false)")
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["annotations"] = {MIGRATED_FROM_ANNOTATION: str(old_id)}
    result.manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": spec,
    }
    cron = old.get("cron_expression")
    if isinstance(cron, str):
        result.disagreement, note = compare(cron, time_zone, now)
        if note:
            result.notes.append(note)
    return result


# --------------------------------------------------------------- the closest valid form


def _dow_seven(field_: str) -> str:
    """Day-of-week 7 (Sunday to croniter) as 0, which Kubernetes accepts."""
    out = []
    for part in field_.split(","):
        if part == "7":
            out.append("0")
        elif re.fullmatch(r"[0-6]-7", part):
            out.append(f"{part[0]}-6,0" if part[0] != "0" else "*")
        else:
            out.append(part)
    return ",".join(out)


def _rrule(fields: Sequence[str]) -> tuple[str, str] | None:
    """``L`` / ``nL`` / ``n#k`` (croniter's last day, last weekday, k-th weekday) as an
    RRULE with the same meaning, when minute and hour are single numbers."""
    minute, hour, dom, month, dow = fields
    if not (_NUMBER.match(minute) and _NUMBER.match(hour)) or month != "*":
        return None
    at = f";BYHOUR={int(hour)};BYMINUTE={int(minute)}"
    if dom == "L" and dow in ("*", "?"):
        return f"FREQ=MONTHLY;BYMONTHDAY=-1{at}", "the last day of each month"
    last = re.fullmatch(r"([0-7])L", dow)
    nth = re.fullmatch(r"([0-7])#([1-5])", dow)
    if dom not in ("*", "?"):
        return None
    if last:
        day = _DOW_NAMES[int(last[1]) % 7]
        return f"FREQ=MONTHLY;BYDAY=-1{day}{at}", "the last such weekday of each month"
    if nth:
        day = _DOW_NAMES[int(nth[1]) % 7]
        return f"FREQ=MONTHLY;BYDAY={nth[2]}{day}{at}", "the n-th such weekday of each month"
    return None


def _candidates(cron: str) -> list[Suggestion]:
    text, zone_note = cron.strip(), ""
    prefixed = _TZ_PREFIX.match(text)
    if prefixed:
        text = prefixed[2]
        zone_note = f"time zone {prefixed[1]} goes in spec.timeZone (--time-zone)"
    fields = text.split()
    exact = True
    notes = [zone_note] if zone_note else []
    if len(fields) in (6, 7):
        # croniter's sixth field is seconds, its seventh the year.
        seconds = fields[5]
        exact = seconds == "0" and (len(fields) == 6 or fields[6] == "*")
        fields = fields[:5]
        notes.append("seconds (and year) dropped: a CronJob runs at most once a minute")
    if len(fields) != 5:
        return []
    fields[4] = _dow_seven(fields[4])
    out = [Suggestion("cron", " ".join(fields), exact, "; ".join(notes))]
    rrule = _rrule(fields)
    if rrule is not None:
        out.append(Suggestion("rrule", rrule[0], exact, "; ".join([*notes, rrule[1]])))
    return out


def closest_valid(
    cron: str,
    spec: Mapping[str, Any],
    time_zone: str,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
    job: tuple[str, str] = ("default", "job"),
) -> Suggestion | None:
    """The first rewrite of ``cron`` that the job's whole spec passes with (judged as
    the facade judges it), or None when there is no close form."""
    for candidate in _candidates(cron):
        trial = {**spec, "schedule": {candidate.form: candidate.value}}
        try:
            validate_spec(trial, time_zone, min_interval_seconds, job)
        except ProblemError:
            continue
        return candidate
    return None


# ------------------------------------------------------------ croniter vs Kubernetes


def compare(
    cron: str, time_zone: str, now: datetime, count: int = COMPARED_RUNS
) -> tuple[Disagreement | None, str]:
    """Where croniter (the old Chronos's engine) and Kubernetes disagree on ``cron``'s
    next ``count`` runs after ``now``; a note when croniter is not installed."""
    try:
        import croniter  # noqa: F401 (optional: the migrate extra)
    except ImportError:
        return None, "croniter not installed (pip install 'chronos-scheduler[migrate]')"
    try:
        parse_cron(cron)
    except ScheduleError:
        return None, ""
    return _compared(cron, time_zone, now, count)


@lru_cache(maxsize=1024)
def _compared(
    cron: str, time_zone: str, now: datetime, count: int
) -> tuple[Disagreement | None, str]:
    """``compare``'s answer, once per schedule: old Chronos installations share a few
    crons among many jobs, and croniter takes most of a migration's time (about 14 ms
    for 10 runs)."""
    from croniter import croniter

    zone = ZoneInfo(time_zone)
    start = now.astimezone(zone)
    try:
        it = croniter(cron, start)
        old = [it.get_next(datetime).astimezone(zone) for _ in range(count)]
    except (ValueError, KeyError) as exc:  # croniter's own errors subclass ValueError
        return None, f"croniter cannot read the cron: {type(exc).__name__}"
    new = next_run_times(cron, time_zone, now, count)
    if [t.timestamp() for t in old] == [t.timestamp() for t in new]:
        return None, ""
    return Disagreement(croniter=old, kubernetes=list(new)), ""
