"""What the models promise users, checked without a cluster: every CRD field is explained,
and the default history limit has one home (``chronos.models.chronosjob.DEFAULT_HISTORY``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from chronos.models.chronosjob import DEFAULT_HISTORY, MAX_HISTORY, ChronosJobSpec
from chronos.models.crd import build_crd
from chronos.operator.settings import OperatorSettings
from chronos.runner.settings import RunnerSettings

ROOT = Path(__file__).resolve().parents[1]


def _undescribed(node: dict[str, Any], path: str) -> list[str]:
    missing = []
    for name, prop in (node.get("properties") or {}).items():
        where = f"{path}.{name}"
        if not (prop.get("description") or "").strip():
            missing.append(where)
        missing += _undescribed(prop, where)
    if "items" in node:
        missing += _undescribed(node["items"], f"{path}[]")
    return missing


def test_every_crd_property_has_a_description() -> None:
    """What ``kubectl explain chronosjob.<path>`` shows: no field without an explanation."""
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema.get("description")
    # metadata is the one exception: the API server refuses a CRD that says anything
    # about it but its type, and kubectl explain shows ObjectMeta's own description.
    assert _undescribed(schema, "") == [".metadata"]


def test_the_walk_finds_an_undescribed_property() -> None:
    # The check above is only worth something if it can fail.
    schema = {"properties": {"a": {"description": "x", "items": {"properties": {"b": {}}}}}}
    assert _undescribed(schema, "") == [".a[].b"]


def test_spec_history_limit_has_no_crd_default() -> None:
    """Absent spec.historyLimit means the operator's CHRONOS_HISTORY_LIMIT: a CRD default
    would fill it in on every object and make the operator's setting dead."""
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "default" not in spec["properties"]["historyLimit"]
    assert ChronosJobSpec.model_fields["history_limit"].default is None


def test_the_default_history_limit_is_the_same_everywhere() -> None:
    assert OperatorSettings.model_fields["history_limit"].default == DEFAULT_HISTORY
    assert RunnerSettings.model_fields["history_limit"].default == DEFAULT_HISTORY

    values = yaml.safe_load((ROOT / "charts/chronos/values.yaml").read_text())
    assert values["operator"]["historyLimit"] == DEFAULT_HISTORY
    schema = json.loads((ROOT / "charts/chronos/values.schema.json").read_text())
    bounds = schema["properties"]["operator"]["properties"]["historyLimit"]
    assert (bounds["minimum"], bounds["maximum"]) == (1, MAX_HISTORY)

    deployment = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy/base/operator.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CHRONOS_HISTORY_LIMIT"] == str(DEFAULT_HISTORY)

    install = (ROOT / "docs/install.md").read_text()
    row = re.search(r"^\| `operator\.historyLimit` \| `(\d+)` \|", install, re.MULTILINE)
    assert row is not None
    assert int(row.group(1)) == DEFAULT_HISTORY
    runner_doc = (ROOT / "docs/runner.md").read_text()
    row = re.search(r"^\| `CHRONOS_HISTORY_LIMIT` \|.*default (\d+)", runner_doc, re.MULTILINE)
    assert row is not None
    assert int(row.group(1)) == DEFAULT_HISTORY
    operator_doc = (ROOT / "docs/operator.md").read_text()
    assert f"`operator.historyLimit`, {DEFAULT_HISTORY} unless" in operator_doc


def test_operator_setting_applies_only_without_spec_history_limit() -> None:
    settings = OperatorSettings(runner_image="r:1", history_limit=3)
    base = {"task": {"type": "pipeline_start", "pipelineId": "p"}, "schedule": {"cron": "@daily"}}
    assert settings.history_limit_of(ChronosJobSpec.model_validate(base)) == 3
    own = ChronosJobSpec.model_validate({**base, "historyLimit": 7})
    assert settings.history_limit_of(own) == 7
