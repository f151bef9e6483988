"""Generates the CustomResourceDefinitions (ChronosJob, ChronosCalendar, ChronosChannel)
from the pydantic models.

``python -m chronos.models.crd [<plural>]`` prints one (chronosjobs unless named);
``deploy/crd/<plural>.yaml`` are the checked-in outputs (``make crd``) and a test fails
when they differ.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from chronos.models import calendar as cal
from chronos.models import channels as ch
from chronos.models import chronosjob as m
from chronos.models.base import _Model

# JSON-schema keywords that a structural OpenAPI v3 schema in a CRD must not carry.
_DROPPED = {"title", "additionalProperties", "$defs"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        # True when runs cannot start (kubectl describe shows why: NeverFires,
        # RunnerServiceAccountMissing).
        "name": "Blocked",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="RunsBlocked")].status',
    },
    {"name": "Task", "type": "string", "jsonPath": ".spec.task.type"},
    {"name": "Schedule", "type": "string", "jsonPath": ".status.cron"},
    {"name": "Time Zone", "type": "string", "jsonPath": ".status.timeZone"},
    {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
    {"name": "Last Result", "type": "string", "jsonPath": ".status.lastRun.result"},
    {"name": "Next Run", "type": "string", "jsonPath": ".status.nextRunTimes[0]"},
    # Empty unless a suspension is asked for: kubectl shows at a glance why a job is quiet.
    {"name": "Suspended Until", "type": "string", "jsonPath": ".spec.suspendUntil"},
    # concurrencyPolicy Enqueue: how many runs wait for the active one (empty otherwise).
    {"name": "Queued", "type": "integer", "jsonPath": ".status.queuedCount"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    # kubectl get -o wide: the calendar and the reason of a suspension.
    {"name": "Calendar", "type": "string", "jsonPath": ".spec.calendarRef.name", "priority": 1},
    {"name": "Suspend Reason", "type": "string", "jsonPath": ".spec.suspendReason", "priority": 1},
]

CALENDAR_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        # False when its .ics cannot be read (reason IcsInvalid, ConfigMapMissing).
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Time Zone", "type": "string", "jsonPath": ".spec.timeZone"},
    {"name": "Next Excluded", "type": "string", "jsonPath": ".status.excludedDaysAhead[0]"},
    {"name": "Then", "type": "string", "jsonPath": ".status.excludedDaysAhead[1]"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

CHANNEL_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
    {
        # False when its Secret is missing or lacks a key the type needs.
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    # kubectl get -o wide: the Secret, and whether deliveries are held back.
    {"name": "Secret", "type": "string", "jsonPath": ".spec.secretRef.name", "priority": 1},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
]


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline ``$ref``s, unwrap ``Optional`` and drop what CRDs do not allow."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        options = [o for o in any_of if o != {"type": "null"}]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {any_of} in a structural schema")
        node = {**options[0], **{k: v for k, v in node.items()}}
        if "$ref" in node:
            return _structural(node, defs)
    if node.get("default", 0) is None:
        del node["default"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: _structural(v, defs) for name, v in value.items()}
        elif key == "items":
            out[key] = _structural(value, defs)
        else:
            # A copy: a model used twice (Schedule in schedule and schedules) must not
            # share lists, or the YAML would carry anchors and aliases.
            out[key] = copy.deepcopy(value)
    return out


def model_schema(model: type[_Model]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    result: dict[str, Any] = _structural(schema, schema.get("$defs", {}))
    return result


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    doc: str | None,
    spec_model: type[_Model],
    status_model: type[_Model],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{m.GROUP}",
            "labels": {"app.kubernetes.io/name": "chronos", "app.kubernetes.io/part-of": "chronos"},
        },
        "spec": {
            "group": m.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(m.CATEGORIES),
            },
            "versions": [
                {
                    "name": m.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": doc,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": (
                                        f"Versioned schema of this object: {m.GROUP}/{m.VERSION}."
                                    ),
                                },
                                "kind": {
                                    "type": "string",
                                    "description": f"Kind of this object: {kind}.",
                                },
                                # The API server refuses anything else here (kubectl
                                # explain shows ObjectMeta's own description).
                                "metadata": {"type": "object"},
                                "spec": model_schema(spec_model),
                                "status": model_schema(status_model),
                            },
                        }
                    },
                }
            ],
        },
    }


def build_crd() -> dict[str, Any]:
    """The ChronosJob CRD."""
    return _crd(
        kind=m.KIND,
        plural=m.PLURAL,
        singular=m.SINGULAR,
        short_names=m.SHORT_NAMES,
        doc=m.ChronosJob.__doc__,
        spec_model=m.ChronosJobSpec,
        status_model=m.ChronosJobStatus,
        columns=PRINTER_COLUMNS,
    )


def build_calendar_crd() -> dict[str, Any]:
    """The ChronosCalendar CRD."""
    return _crd(
        kind=cal.KIND,
        plural=cal.PLURAL,
        singular=cal.SINGULAR,
        short_names=cal.SHORT_NAMES,
        doc=cal.ChronosCalendar.__doc__,
        spec_model=cal.ChronosCalendarSpec,
        status_model=cal.ChronosCalendarStatus,
        columns=CALENDAR_PRINTER_COLUMNS,
    )


def build_channel_crd() -> dict[str, Any]:
    """The ChronosChannel CRD."""
    return _crd(
        kind=ch.KIND,
        plural=ch.PLURAL,
        singular=ch.SINGULAR,
        short_names=ch.SHORT_NAMES,
        doc=ch.ChronosChannel.__doc__,
        spec_model=ch.ChronosChannelSpec,
        status_model=ch.ChronosChannelStatus,
        columns=CHANNEL_PRINTER_COLUMNS,
    )


#: Each CRD by its plural: its file is deploy/crd/<plural>.yaml.
CRDS = {m.PLURAL: build_crd, cal.PLURAL: build_calendar_crd, ch.PLURAL: build_channel_crd}


HEADER = "# Generated by `python -m chronos.models.crd` from chronos/models. Do not edit.\n"


def render(plural: str = m.PLURAL) -> str:
    return HEADER + yaml.safe_dump(CRDS[plural](), sort_keys=False, width=100)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else m.PLURAL
    if which not in CRDS:
        sys.exit(f"unknown CRD {which!r}: one of {', '.join(CRDS)}")
    sys.stdout.write(render(which))
