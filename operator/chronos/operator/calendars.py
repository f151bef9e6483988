"""Reading a job's ChronosCalendar (and the ``.ics`` in its ConfigMap) as the engine's
:class:`~chronos.schedule.calendar.Calendar`.

The operator reads them with its own rights; the admission policy lets a job name only
a calendar its author may ``get``, and a calendar name only a ConfigMap its author may
``get``, so no job reads what its author could not. A calendar that cannot be used
raises :class:`CalendarUnusableError` with a reason (``CalendarMissing``,
``ConfigMapMissing``, ``IcsInvalid``, ``CalendarInvalid``) and a message fit for a
condition: the job's runs wait, and its RunsBlocked condition says why.
"""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap
from pydantic import ValidationError

from chronos.kube import or_none
from chronos.models.calendar import ChronosCalendarSpec
from chronos.models.chronosjob import GROUP, VERSION
from chronos.operator import kubeio
from chronos.schedule.calendar import WEEKDAY_NUMBERS, Calendar, CalendarError, parse_ics

ChronosCalendarResource = create_namespaced_resource(
    GROUP, VERSION, "ChronosCalendar", "chronoscalendars"
)


class CalendarUnusableError(Exception):
    """The job's calendar cannot be used: runs wait (RunsBlocked says why)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def from_spec(name: str, raw: dict[str, Any], ics: str | None = None) -> Calendar:
    """The engine's Calendar of a ChronosCalendar spec (``ics``: its file's text).

    Raises CalendarUnusableError for values the CRD's schema should have refused."""
    try:
        spec = ChronosCalendarSpec.model_validate(raw)
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CalendarUnusableError("CalendarInvalid", f"calendar {name}: {problem}") from None
    dates = set(spec.excluded_dates or [])
    yearly = {(int(m), int(d)) for m, d in (x.split("-") for x in spec.yearly_dates or [])}
    if ics is not None:
        try:
            more, more_yearly = parse_ics(ics)
        except CalendarError as exc:
            raise CalendarUnusableError("IcsInvalid", f"calendar {name}: ics {exc}") from None
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


async def load(client: AsyncClient, namespace: str, name: str) -> Calendar:
    """The ChronosCalendar ``name`` in ``namespace``, with its ``.ics`` read."""
    found = await or_none(client.get(ChronosCalendarResource, name, namespace=namespace))
    if found is None:
        raise CalendarUnusableError(
            "CalendarMissing", f"ChronosCalendar {name} does not exist in namespace {namespace}"
        )
    raw: dict[str, Any] = kubeio.as_dict(found).get("spec") or {}
    calendar = from_spec(name, raw)  # the spec checked before its ConfigMap is read
    ref = ChronosCalendarSpec.model_validate(raw).ics
    if ref is None:
        return calendar
    cm_name, key = ref.config_map_ref.name, ref.config_map_ref.key
    cm = await or_none(client.get(ConfigMap, cm_name, namespace=namespace))
    text = None if cm is None else (cm.data or {}).get(key)
    if text is None:
        raise CalendarUnusableError(
            "ConfigMapMissing",
            f"calendar {name}: ConfigMap {cm_name} with key {key} does not exist in "
            f"namespace {namespace}",
        )
    return from_spec(name, raw, text)
