"""ChronosCalendars in the operator: watched, parsed once, their jobs requeued when they
change, their status (Ready, excludedDaysAhead) written.

A ChronosCalendar informer (``controller.run``) keeps every calendar's spec in
:class:`Calendars`; each job's sync asks :meth:`Calendars.resolve` for the engine's
:class:`~chronos.schedule.calendar.Calendar`, answered from the cache. The ``.ics`` of a
calendar lives in a ConfigMap, which the operator may only ``get`` (no watch on every
ConfigMap of the cluster): it is read when a calendar is first used or changes and again
at every housekeeping round (``sync_calendar``), and parsed again only when its
resourceVersion moved. Whenever what a calendar excludes (or why it cannot be used)
changes, every job that references it (the index calendar → jobs, fed by the ChronosJob
informer) is queued, so its nextRunTimes, its operator-mode slots and its RunsBlocked
follow within seconds.

The operator reads them with its own rights; the admission policy lets a job name only a
calendar its author may ``get``, and a calendar name only a ConfigMap its author may
``get``, so no job reads what its author could not. A calendar that cannot be used raises
:class:`CalendarUnusableError` with a reason (``CalendarMissing``, ``ConfigMapMissing``,
``IcsInvalid``, ``CalendarInvalid``) and a message fit for a condition: it names the
line or the field, never the ConfigMap's content (the file is its author's, the status
is read by everyone who may read the calendar).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType
from pydantic import ValidationError

from chronos.kube import or_none
from chronos.models import wire as w
from chronos.models.calendar import DAYS_AHEAD, ChronosCalendarSpec
from chronos.models.chronosjob import GROUP, VERSION
from chronos.operator.metrics import WRITES
from chronos.schedule.calendar import WEEKDAY_NUMBERS, Calendar, CalendarError, parse_ics
from chronos.times import rfc3339

if TYPE_CHECKING:
    from chronos.operator.desired import Desired

log = logging.getLogger(__name__)

ChronosCalendarResource = create_namespaced_resource(
    GROUP, VERSION, "ChronosCalendar", "chronoscalendars"
)

Key = tuple[str, str]

READY = "Ready"
#: Ready=True's reason.
READ = "CalendarRead"
MISSING = "CalendarMissing"
CONFIGMAP_MISSING = "ConfigMapMissing"
ICS_INVALID = "IcsInvalid"
INVALID = "CalendarInvalid"


class CalendarUnusableError(Exception):
    """The job's calendar cannot be used: runs wait (RunsBlocked says why)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ------------------------------------------------------------------ pure parts


def ics_problem(name: str, ref: tuple[str, str], exc: CalendarError) -> CalendarUnusableError:
    """IcsInvalid naming the ConfigMap, the key and the line — and not what the line
    holds: ``CalendarError.reason`` may quote the file (an unreadable date, a repeat
    rule), which is the ConfigMap author's and must not reach a status others read."""
    where = f"line {exc.line}" if exc.line else "the file"
    return CalendarUnusableError(
        ICS_INVALID,
        f"calendar {name}: the iCalendar text in ConfigMap {ref[0]}, key {ref[1]}, cannot be "
        f"read at {where}: {_content_free(exc.reason)}",
    )


def _content_free(reason: str) -> str:
    """``reason`` up to the first value it echoes from the file (``, got '…'``,
    ``(unsupported: …)``, anything quoted): the rule broken, not the file's text."""
    cut = len(reason)
    for marker in (", got ", " (unsupported", "'", '"'):
        if (at := reason.find(marker)) != -1:
            cut = min(cut, at)
    return reason[:cut].rstrip(" ,:(") or "unreadable"


def from_spec(name: str, raw: dict[str, Any], ics: str | None = None) -> Calendar:
    """The engine's Calendar of a ChronosCalendar spec (``ics``: its file's text).

    Raises CalendarUnusableError for values the CRD's schema should have refused, and
    for an ``.ics`` that cannot be read (IcsInvalid, naming the line)."""
    spec = parse_spec(name, raw)
    dates = set(spec.excluded_dates or [])
    yearly = {(int(m), int(d)) for m, d in (x.split("-") for x in spec.yearly_dates or [])}
    if ics is not None:
        try:
            more, more_yearly = parse_ics(ics)
        except CalendarError as exc:
            ref = spec.ics.config_map_ref if spec.ics else None
            raise ics_problem(name, (ref.name, ref.key) if ref else ("?", "?"), exc) from None
        dates |= more
        yearly |= more_yearly
    return Calendar(
        name=name,
        zone=spec.time_zone,
        dates=frozenset(dates),
        ranges=tuple((r.from_, r.to) for r in spec.excluded_ranges or []),
        yearly=frozenset(yearly),
        weekdays=frozenset(WEEKDAY_NUMBERS[str(d.value)] for d in spec.excluded_weekdays or []),
    )


def parse_spec(name: str, raw: dict[str, Any]) -> ChronosCalendarSpec:
    """The spec, or CalendarInvalid naming each field that is wrong (its value is not
    quoted: pydantic's ``input`` is left out)."""
    try:
        return ChronosCalendarSpec.model_validate(raw)
    except ValidationError as exc:
        problem = "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CalendarUnusableError(INVALID, f"calendar {name}: {problem}") from None


@dataclass(frozen=True)
class Resolved:
    """What a calendar is now: usable (``calendar``) or not (``problem``)."""

    calendar: Calendar | None = None
    problem: CalendarUnusableError | None = None

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        """Equal when jobs would plan the same (their requeue is decided on it)."""
        if self.problem is not None:
            return ("problem", self.problem.reason, self.problem.message)
        return ("calendar", self.calendar)


def _strip_time(condition: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in condition.items() if k != w.LAST_TRANSITION_TIME}


def calendar_status(
    stored: dict[str, Any] | None,
    resolved: Resolved,
    *,
    generation: int | None,
    zone: str,
    now: datetime,
) -> dict[str, Any] | None:
    """The status a calendar should have at ``now`` (its days read in ``zone``), or None
    when ``stored`` says that already (no write). lastTransitionTime moves only when the
    condition's status does."""
    stored = stored or {}
    ready: dict[str, Any]
    if resolved.problem is not None:
        ready = {
            "type": READY,
            "status": "False",
            "reason": resolved.problem.reason,
            "message": resolved.problem.message,
        }
        ahead: list[str] = []
    else:
        assert resolved.calendar is not None
        ready = {
            "type": READY,
            "status": "True",
            "reason": READ,
            "message": "the calendar is read; jobs that reference it skip its excluded days",
        }
        today = now.astimezone(ZoneInfo(zone)).date()
        ahead = [d.isoformat() for d in resolved.calendar.excluded_ahead(today, DAYS_AHEAD)]
    ready[w.OBSERVED_GENERATION] = generation
    old = next((c for c in stored.get("conditions") or [] if c.get("type") == READY), None)
    same_status = old is not None and old.get("status") == ready["status"]
    ready[w.LAST_TRANSITION_TIME] = (
        old.get(w.LAST_TRANSITION_TIME) if same_status and old else rfc3339(now)
    )
    wanted = {
        w.OBSERVED_GENERATION: generation,
        w.CONDITIONS: [ready],
        w.EXCLUDED_DAYS_AHEAD: ahead,
    }
    unchanged = (
        stored.get(w.OBSERVED_GENERATION) == generation
        and (stored.get(w.EXCLUDED_DAYS_AHEAD) or []) == ahead
        and old is not None
        and _strip_time(old) == _strip_time(ready)
        and len(stored.get("conditions") or []) == 1
    )
    return None if unchanged else wanted


def next_midnight(now: datetime, zone: str) -> datetime:
    """The next start of a day in ``zone`` after ``now`` (aware UTC): excludedDaysAhead
    moves on then. Noon of the next day minus twelve hours would be wrong on DST days;
    the wall midnight is resolved in the zone (a zone that skips midnight starts the day
    at the first instant after the gap)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    tomorrow = local.date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz)
    # A midnight in a gap (e.g. America/Santiago): fold-insensitive round trip moves it.
    return start.astimezone(UTC)


def calendar_name(spec: dict[str, Any] | None) -> str | None:
    """The calendar a raw ChronosJob spec references (None: none, or not a name)."""
    ref = (spec or {}).get("calendarRef")
    name = ref.get("name") if isinstance(ref, dict) else None
    return name if isinstance(name, str) and name else None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------ the cache


@dataclass
class _Ics:
    """The last read of a calendar's ConfigMap."""

    ref: tuple[str, str]
    #: The ConfigMap's resourceVersion (None: it or its key did not exist).
    version: str | None
    text: str | None
    read_at: float


@dataclass
class _Entry:
    spec: dict[str, Any]
    spec_digest: str
    generation: int | None
    status: dict[str, Any] | None
    ics: _Ics | None = None
    #: (spec digest, ConfigMap resourceVersion) -> what it resolved to.
    parsed: tuple[tuple[str, str | None], Resolved] | None = None
    #: The last Resolved whose jobs were queued (None: never).
    announced: tuple[Any, ...] | None = None


class Calendars:
    """The informer's store of ChronosCalendars, the parsed calendars, and which jobs
    reference which calendar. ``changed`` hears of every calendar whose spec or status
    the watch shows (``controller`` queues its sync); ``requeue`` is handed each job
    whose calendar now excludes other days or became (un)usable."""

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}
        #: (namespace, calendar) -> its jobs; (namespace, job) -> its calendar.
        self._users: dict[Key, set[str]] = {}
        self._uses: dict[Key, str] = {}
        self.changed: Callable[[Key], None] = lambda key: None
        self.requeue: Callable[[Key], None] = lambda key: None

    # -- the informer's Store

    def upsert(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        spec = obj.get("spec") or {}
        digest = _digest(spec)
        entry = self._entries.get(key)
        # Only a new calendar or a new spec is news: the status events (the operator's
        # own writes among them) change nothing a job plans with.
        news = entry is None or entry.spec_digest != digest
        if entry is None or entry.spec_digest != digest:
            entry = _Entry(
                spec=spec,
                spec_digest=digest,
                generation=meta.get("generation"),
                status=obj.get("status"),
                ics=entry.ics if entry else None,
                announced=entry.announced if entry else None,
            )
            self._entries[key] = entry
        else:
            entry.generation, entry.status = meta.get("generation"), obj.get("status")
        if news:
            self.changed(key)

    def delete(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        if self._entries.pop(key, None) is not None:
            self._requeue_users(key)

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        for key in [k for k in self._entries if namespace in (None, k[0]) and k not in seen]:
            del self._entries[key]
            self._requeue_users(key)

    # -- the index calendar → jobs (fed by the ChronosJob informer)

    def job_event(self, namespace: str, job: str, spec: dict[str, Any] | None) -> None:
        """Job ``job`` now references the calendar its ``spec`` names (None: gone)."""
        name = calendar_name(spec)
        old = self._uses.get((namespace, job))
        if old == name:
            return
        if old is not None:
            users = self._users.get((namespace, old), set())
            users.discard(job)
            if not users:
                self._users.pop((namespace, old), None)
            del self._uses[(namespace, job)]
        if name is not None:
            self._uses[(namespace, job)] = name
            self._users.setdefault((namespace, name), set()).add(job)

    def users(self, namespace: str, calendar: str) -> set[str]:
        return set(self._users.get((namespace, calendar), set()))

    def calendar_keys(self) -> list[Key]:
        return list(self._entries)

    def _requeue_users(self, key: Key) -> None:
        for job in sorted(self.users(*key)):
            self.requeue((key[0], job))

    # -- resolving

    def cached(self, namespace: str, name: str) -> Calendar | None:
        """The calendar as last resolved, without I/O (None: not known or not usable)."""
        entry = self._entries.get((namespace, name))
        if entry is None or entry.parsed is None or entry.parsed[0][0] != entry.spec_digest:
            return None
        return entry.parsed[1].calendar

    async def resolve(
        self, client: AsyncClient, namespace: str, name: str, *, refresh: bool = False
    ) -> Calendar:
        """The calendar ``name``; its ConfigMap read if never read (or ``refresh``).
        Raises CalendarUnusableError."""
        result = await self._resolve(client, (namespace, name), refresh=refresh)
        if result.problem is not None:
            raise result.problem
        assert result.calendar is not None
        return result.calendar

    async def _resolve(self, client: AsyncClient, key: Key, *, refresh: bool) -> Resolved:
        namespace, name = key
        entry = self._entries.get(key)
        if entry is None:
            return Resolved(
                problem=CalendarUnusableError(
                    MISSING, f"ChronosCalendar {name} does not exist in namespace {namespace}"
                )
            )
        try:
            spec = parse_spec(name, entry.spec)
        except CalendarUnusableError as problem:
            return self._remember(entry, None, Resolved(problem=problem))
        if spec.ics is None:
            entry.ics = None
            return self._parse(entry, name, None)
        ref = (spec.ics.config_map_ref.name, spec.ics.config_map_ref.key)
        if refresh or entry.ics is None or entry.ics.ref != ref:
            entry.ics = await _read_ics(client, namespace, ref)
        return self._parse(entry, name, entry.ics)

    def _parse(self, entry: _Entry, name: str, ics: _Ics | None) -> Resolved:
        version = None if ics is None else (ics.version or "missing")
        if entry.parsed is not None and entry.parsed[0] == (entry.spec_digest, version):
            return entry.parsed[1]
        if ics is not None and ics.text is None:
            result = Resolved(
                problem=CalendarUnusableError(
                    CONFIGMAP_MISSING,
                    f"calendar {name}: ConfigMap {ics.ref[0]} with key {ics.ref[1]} does not "
                    "exist in the calendar's namespace",
                )
            )
        else:
            try:
                result = Resolved(
                    calendar=from_spec(name, entry.spec, None if ics is None else ics.text)
                )
            except CalendarUnusableError as problem:
                result = Resolved(problem=problem)
        return self._remember(entry, version, result)

    def _remember(self, entry: _Entry, version: str | None, result: Resolved) -> Resolved:
        entry.parsed = ((entry.spec_digest, version), result)
        return result

    def apply(self, desired: Desired, namespace: str) -> Desired:
        """``desired`` with its job's calendar as last resolved (nextRunTimes leave its
        excluded days out, show moved slots at their new time); unchanged when the job has
        none or it is not usable now (RunsBlocked says so)."""
        ref = desired.spec.calendar_ref
        calendar = None if ref is None else self.cached(namespace, ref.name)
        if calendar is None or desired.rules is None:
            return desired
        return replace(desired, rules=replace(desired.rules, calendar=calendar))

    # -- a calendar's own sync (its status, its jobs)

    async def sync(
        self, client: AsyncClient, key: Key, *, zone: str, now: datetime | None = None
    ) -> datetime | None:
        """Resolve calendar ``key`` afresh (its ConfigMap read again), queue its jobs if
        what it means changed, and write its status if that changed. Returns when to
        look again (the next midnight in its zone), None if it is gone."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        resolved = await self._resolve(client, key, refresh=True)
        if resolved.fingerprint != entry.announced:
            entry.announced = resolved.fingerprint
            self._requeue_users(key)
        now = now or datetime.now(UTC)
        spec_zone = entry.spec.get(w.TIME_ZONE)
        zone = spec_zone if isinstance(spec_zone, str) and _zone_ok(spec_zone) else zone
        status = calendar_status(
            entry.status, resolved, generation=entry.generation, zone=zone, now=now
        )
        if status is not None:
            await _patch_status(client, key, status)
        return next_midnight(now, zone)


def _zone_ok(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        return False
    return True


async def _read_ics(client: AsyncClient, namespace: str, ref: tuple[str, str]) -> _Ics:
    cm = await or_none(client.get(ConfigMap, ref[0], namespace=namespace))
    text = None if cm is None else (cm.data or {}).get(ref[1])
    version = (
        None if cm is None or text is None or cm.metadata is None else cm.metadata.resourceVersion
    )
    return _Ics(ref, version, text, time.monotonic())


async def _patch_status(client: AsyncClient, key: Key, status: dict[str, Any]) -> None:
    WRITES.labels("calendar_status").inc()
    try:
        await client.patch(
            ChronosCalendarResource.Status,
            key[1],
            {"status": status},
            namespace=key[0],
            patch_type=PatchType.MERGE,
        )
    except ApiError as exc:
        if exc.status.code != 404:
            raise
        log.debug("%s/%s: calendar gone before its status was written", *key)
