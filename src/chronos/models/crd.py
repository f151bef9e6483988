"""Generates the ChronosJob CustomResourceDefinition from the pydantic models.

``python -m chronos.models.crd`` prints it; ``deploy/crd/chronosjobs.yaml`` is its
checked-in output and a test fails when the two differ.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from chronos.models import chronosjob as m

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
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
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
            out[key] = value
    return out


def model_schema(model: type[m._Model]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    result: dict[str, Any] = _structural(schema, schema.get("$defs", {}))
    return result


def build_crd() -> dict[str, Any]:
    spec = model_schema(m.ChronosJobSpec)
    status = model_schema(m.ChronosJobStatus)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{m.PLURAL}.{m.GROUP}",
            "labels": {"app.kubernetes.io/name": "chronos", "app.kubernetes.io/part-of": "chronos"},
        },
        "spec": {
            "group": m.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": m.KIND,
                "listKind": f"{m.KIND}List",
                "plural": m.PLURAL,
                "singular": m.SINGULAR,
                "shortNames": list(m.SHORT_NAMES),
                "categories": list(m.CATEGORIES),
            },
            "versions": [
                {
                    "name": m.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": m.ChronosJob.__doc__,
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
                                    "description": f"Kind of this object: {m.KIND}.",
                                },
                                # The API server refuses anything else here (kubectl
                                # explain shows ObjectMeta's own description).
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated by `python -m chronos.models.crd` from chronos/models. Do not edit.\n"


def render() -> str:
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
