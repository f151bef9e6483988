"""What the models promise users, checked without a cluster: every CRD field is explained,
and the default history limit has one home (``chronos.models.chronosjob.DEFAULT_HISTORY``)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from support import ROOT

from chronos.models.chronosjob import DEFAULT_HISTORY, MAX_HISTORY, ChronosJobSpec
from chronos.models.crd import build_calendar_crd, build_channel_crd, build_crd
from chronos.operator.settings import OperatorSettings
from chronos.runner.settings import RunnerSettings


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


#: Keys YAML 1.1 reads as booleans (kubectl's reader, sigs.k8s.io/yaml, follows it):
#: a field named so arrives as "true" or "false" from a manifest written unquoted.
YAML_11_BOOLEANS = {
    w
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off")
    for w in (word, word.title(), word.upper())
}


def _property_names(node: dict[str, Any], path: str) -> list[tuple[str, str]]:
    found = []
    for name, prop in (node.get("properties") or {}).items():
        found.append((f"{path}.{name}", name))
        found += _property_names(prop, f"{path}.{name}")
    if "items" in node:
        found += _property_names(node["items"], f"{path}[]")
    return found


def test_no_crd_field_is_a_word_yaml_reads_as_a_boolean() -> None:
    """``after: [{job: x, on: Failed}]`` reached the API server as ``{"true": "Failed"}``
    through kubectl: every field of every CRD can be written unquoted."""
    for crd in (build_crd(), build_calendar_crd(), build_channel_crd()):
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        names = _property_names(schema, crd["spec"]["names"]["kind"])
        assert names
        assert [path for path, name in names if name in YAML_11_BOOLEANS] == []
    assert _property_names({"properties": {"a": {"items": {"properties": {"on": {}}}}}}, "") == [
        (".a", "a"),
        (".a[].on", "on"),
    ]
    assert yaml.safe_load("on: x") == {True: "x"}  # why: PyYAML is YAML 1.1 too


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


def test_enum_fields_hold_enums_after_parsing_api_server_json() -> None:
    """``mypy --strict`` trusts the annotations: an enum field must hold the enum member
    (with ``use_enum_values`` it held a ``str``, and ``task.type.scope`` raised)."""
    from chronos.models.chronosjob import (
        ChronosJob,
        ConcurrencyPolicy,
        ConditionStatus,
        RunResult,
        TaskType,
        Weekday,
    )

    stored = json.loads(
        json.dumps(
            {
                "apiVersion": "chronos.gluesync.io/v1alpha1",
                "kind": "ChronosJob",
                "metadata": {"name": "a", "namespace": "n"},
                "spec": {
                    "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]},
                    "schedule": {"daysOfWeek": ["monday"], "hour": 3, "minute": 0},
                    "concurrencyPolicy": "Allow",
                },
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "Reconciled",
                            "lastTransitionTime": "2026-11-29T04:00:00Z",
                        }
                    ],
                    "lastRun": {"runId": "a-1", "trigger": "schedule", "result": "succeeded"},
                },
            }
        )
    )
    job = ChronosJob.model_validate(stored)
    assert type(job.spec.task.type) is TaskType
    assert job.spec.task.type.scope == "entity"
    assert job.spec.concurrency_policy is ConcurrencyPolicy.ALLOW
    assert job.spec.schedule is not None
    assert job.spec.schedule.days_of_week == [Weekday.MONDAY]
    assert job.status is not None
    assert job.status.conditions is not None
    assert job.status.conditions[0].status is ConditionStatus.TRUE
    assert job.status.last_run is not None
    assert job.status.last_run.result is RunResult.SUCCEEDED
    # and back to the JSON the API server stores
    assert job.model_dump(mode="json", exclude_unset=True) == stored


def test_a_stored_history_entry_the_model_refuses_does_not_block_new_runs() -> None:
    """Read at the edge: an entry from an older CRD version is left out, and the rest
    (and the new run) are kept."""
    from chronos.models.history import merge_run, parse_history

    stored = [
        {"runId": "a-2", "trigger": "schedule", "result": "succeeded"},
        {"runId": "a-1", "trigger": "cron", "result": "ok"},  # older vocabulary
    ]
    history = parse_history(stored)
    assert [h.run_id for h in history] == ["a-2"]
    new = parse_history([{"runId": "a-3", "trigger": "run-now", "result": "failed"}])[0]
    assert [h.run_id for h in merge_run(history, new, 5)] == ["a-3", "a-2"]
    assert parse_history(None) == []
