"""Issue 19's time rules between REST (snake_case) and the ChronosJob spec (camelCase).

Pure translations, as ``chronos.api.mapping``: nothing here judges a value;
``ChronosJobSpec`` does (its errors name the request field through ``SPEC_FIELDS``).

REST field            spec field
``schedules``         ``schedules`` (items: name, cron, rrule, days_of_week, hour, minute)
``calendar``          ``calendarRef.name``
``on_excluded``       ``onExcluded``
``dst_policy``        ``dstPolicy`` (spring_forward, fall_back)
``jitter_seconds``    ``jitterSeconds``
``active_from``       ``activeFrom``  (and ``active_until``, ``suspend_until``,
``suspend_reason``    ``suspendReason`` likewise)
``catch_up``          ``catchUp`` (policy, window_seconds, max)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel, to_snake

from chronos.models.wire import SpecDict

#: Scalars carried as they are.
_SCALARS = {
    "on_excluded": "onExcluded",
    "jitter_seconds": "jitterSeconds",
    "active_from": "activeFrom",
    "active_until": "activeUntil",
    "suspend_until": "suspendUntil",
    "suspend_reason": "suspendReason",
}
#: Objects whose keys are the spec's, snake_cased.
_OBJECTS = {"dst_policy": "dstPolicy", "catch_up": "catchUp"}
#: Every REST field of the time rules (the request and the response have them all).
REQUEST_FIELDS = (*_SCALARS, *_OBJECTS, "calendar", "schedules")

#: A spec path and the request field an error about it names (``errors.SPEC_TO_REQUEST``).
SPEC_FIELDS: dict[tuple[str, ...], str] = {
    **{(camel,): snake for snake, camel in _SCALARS.items()},
    **{(camel,): snake for snake, camel in _OBJECTS.items()},
    ("calendarRef",): "calendar",
    ("calendarRef", "name"): "calendar",
    ("schedules",): "schedules",
    ("dstPolicy", "springForward"): "dst_policy.spring_forward",
    ("dstPolicy", "fallBack"): "dst_policy.fall_back",
    ("catchUp", "windowSeconds"): "catch_up.window_seconds",
    ("schedules", "daysOfWeek"): "schedules.days_of_week",
}


def _camel(value: Mapping[str, Any]) -> dict[str, Any]:
    """An object's keys in the spec's case; a null value is an absent field."""
    return {to_camel(k): v for k, v in value.items() if v is not None}


def _snake(value: Mapping[str, Any]) -> dict[str, Any]:
    return {to_snake(k): v for k, v in value.items()}


def _schedule_item(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item  # the model names what is wrong
    out = _camel(item)
    days = out.get("daysOfWeek")
    if isinstance(days, list):  # as for the single schedule: any case, each once
        lowered = [d.lower() if isinstance(d, str) else d for d in days]
        out["daysOfWeek"] = [d for i, d in enumerate(lowered) if d not in lowered[:i]]
    return out


def sends_schedules(sent: Mapping[str, Any]) -> bool:
    """A body with ``schedules``: then ``schedule`` and ``cron_expression`` are the
    read-only echo of the first one (a job read back and sent again) and ignored."""
    return sent.get("schedules") is not None


def apply_time_rules(out: dict[str, Any], sent: Mapping[str, Any]) -> None:
    """``out`` (a camelCase spec being built) with the time rules of ``sent``; a null
    clears a field."""
    for snake, camel in _SCALARS.items():
        if snake in sent:
            _set(out, camel, sent[snake])
    for snake, camel in _OBJECTS.items():
        if snake in sent:
            value = sent[snake]
            _set(out, camel, _camel(value) if isinstance(value, Mapping) else value)
    if "calendar" in sent:
        name = sent["calendar"]
        _set(out, "calendarRef", None if name is None else {"name": name})
    if "schedules" in sent:
        items = sent["schedules"]
        _set(out, "schedules", None if items is None else [_schedule_item(i) for i in items])
        if items is not None:
            out.pop("schedule", None)


def drop_schedules(out: dict[str, Any]) -> None:
    """A body that sets ``schedule`` or ``cron_expression`` (and not ``schedules``)
    replaces a list of schedules by that one."""
    out.pop("schedules", None)


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def time_rules_view(spec: SpecDict) -> dict[str, Any]:
    """The REST fields of the time rules of a stored spec (absent ones null)."""
    view: dict[str, Any] = {snake: spec.get(camel) for snake, camel in _SCALARS.items()}
    for snake, camel in _OBJECTS.items():
        value = spec.get(camel)
        view[snake] = _snake(value) if isinstance(value, Mapping) else None
    ref = spec.get("calendarRef")
    view["calendar"] = ref.get("name") if isinstance(ref, Mapping) else None
    items = spec.get("schedules")
    view["schedules"] = (
        [_snake(i) for i in items if isinstance(i, Mapping)] if isinstance(items, list) else None
    )
    return view
