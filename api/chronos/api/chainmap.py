"""Chains, fan-in and the run queue (issue 20) between REST (snake_case) and the
ChronosJob spec: what decides when a run starts besides the schedule.

Pure translations, as ``chronos.api.timemap``: ``ChronosJobSpec`` judges the values
(its errors name the request field through ``SPEC_FIELDS``).

REST field                 spec field
``after``                  ``after`` (items: job, on)
``after_all``              ``afterAll``
``after_within_seconds``   ``afterWithinSeconds``
``concurrency_policy``     ``concurrencyPolicy`` (Forbid, Allow, Replace, Enqueue)
``max_queued``             ``maxQueued`` (Enqueue only)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chronos.models.chronosjob import ConcurrencyPolicy
from chronos.models.wire import SpecDict

#: A spec path and the request field an error about it names (``errors.SPEC_TO_REQUEST``).
SPEC_FIELDS: dict[tuple[str, ...], str] = {
    ("after",): "after",
    ("after", "job"): "after.job",
    ("after", "when"): "after.when",
    ("afterAll",): "after_all",
    ("afterWithinSeconds",): "after_within_seconds",
    ("concurrencyPolicy",): "concurrency_policy",
    ("maxQueued",): "max_queued",
}
#: The scalar fields: REST name -> spec name (a null clears one).
_SCALARS = (
    ("after_all", "afterAll"),
    ("after_within_seconds", "afterWithinSeconds"),
    ("concurrency_policy", "concurrencyPolicy"),
    ("max_queued", "maxQueued"),
)


def _upstream(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item  # the model names what is wrong
    return {k: v for k, v in item.items() if v is not None}


def apply_chains(out: dict[str, Any], sent: Mapping[str, Any]) -> None:
    """``out`` (a camelCase spec being built) with the chain fields of ``sent``; a null
    clears a field."""
    if "after" in sent:
        items = sent["after"]
        if items is None:
            out.pop("after", None)
        else:
            out["after"] = [_upstream(i) for i in items] if isinstance(items, list) else items
    for snake, camel in _SCALARS:
        if snake in sent:
            if sent[snake] is None:
                out.pop(camel, None)
            else:
                out[camel] = sent[snake]


def chains_view(spec: SpecDict) -> dict[str, Any]:
    """The REST fields of a stored spec's chain and queue (absent ones null, afterAll
    false, the concurrency policy its default)."""
    after = spec.get("after")
    return {
        "after": [dict(u) for u in after] if isinstance(after, list) else None,
        "after_all": bool(spec.get("afterAll", False)),
        "after_within_seconds": spec.get("afterWithinSeconds"),
        "concurrency_policy": spec.get("concurrencyPolicy") or ConcurrencyPolicy.FORBID.value,
        "max_queued": spec.get("maxQueued"),
    }
