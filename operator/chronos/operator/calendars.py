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

from datetime import date
from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap

from chronos.kube import or_none
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


def from_spec(name: str, spec: dict[str, Any], ics: str | None = None) -> Calendar:
    """The engine's Calendar of a ChronosCalendar spec (``ics``: its file's text).

    Raises CalendarUnusableError for values the CRD's schema should have refused."""
    try:
        dates = {date.fromisoformat(d) for d in spec.get("excludedDates") or []}
        ranges = tuple(
            (date.fromisoformat(r["from"]), date.fromisoformat(r["to"]))
            for r in spec.get("excludedRanges") or []
        )
        yearly = {
            (int(m), int(d)) for m, d in (x.split("-") for x in spec.get("yearlyDates") or [])
        }
        weekdays = {WEEKDAY_NUMBERS[x.lower()] for x in spec.get("excludedWeekdays") or []}
    except (KeyError, ValueError, AttributeError) as exc:
        raise CalendarUnusableError("CalendarInvalid", f"calendar {name}: {exc}") from None
    if ics is not None:
        try:
            more, more_yearly = parse_ics(ics)
        except CalendarError as exc:
            raise CalendarUnusableError("IcsInvalid", f"calendar {name}: ics {exc}") from None
        dates |= more
        yearly |= more_yearly
    return Calendar(
        name=name,
        zone=spec.get("timeZone"),
        dates=frozenset(dates),
        ranges=ranges,
        yearly=frozenset(yearly),
        weekdays=frozenset(weekdays),
    )


async def load(client: AsyncClient, namespace: str, name: str) -> Calendar:
    """The ChronosCalendar ``name`` in ``namespace``, with its ``.ics`` read."""
    found = await or_none(client.get(ChronosCalendarResource, name, namespace=namespace))
    if found is None:
        raise CalendarUnusableError(
            "CalendarMissing", f"ChronosCalendar {name} does not exist in namespace {namespace}"
        )
    spec: dict[str, Any] = kubeio.as_dict(found).get("spec") or {}
    ics = None
    ref = (spec.get("ics") or {}).get("configMapRef")
    if ref:
        cm = await or_none(client.get(ConfigMap, ref["name"], namespace=namespace))
        text = None if cm is None else (cm.data or {}).get(ref["key"])
        if text is None:
            raise CalendarUnusableError(
                "ConfigMapMissing",
                f"calendar {name}: ConfigMap {ref['name']} with key {ref['key']} does not "
                f"exist in namespace {namespace}",
            )
        ics = text
    return from_spec(name, spec, ics)
