"""The ChronosJob models, their cross-field rules, and the generated CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cases import BAD_SPECS, spec
from pydantic import ValidationError

from chronos.models import ChronosJobSpec
from chronos.models.crd import build_crd, render

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("case", "body", "field"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_rejected_naming_the_field(case: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(body)
    assert field.rsplit(".", 1)[-1] in str(info.value), case


def test_good_specs_are_accepted_with_defaults() -> None:
    s = ChronosJobSpec.model_validate(
        spec(schedule={"daysOfWeek": ["monday", "friday"], "hour": 8, "minute": 30})
    )
    dumped = s.model_dump(exclude_none=True)
    assert dumped["enabled"] is True
    assert dumped["concurrencyPolicy"] == "Forbid"
    assert dumped["task"]["snapshotWriteMethod"] == "UPSERT"
    assert dumped["schedule"]["daysOfWeek"] == ["monday", "friday"]
    for task in (
        {"type": "pipeline_start", "pipelineId": "p"},
        {"type": "group_redo", "pipelineId": "p", "groupIds": ["g1", "g2"]},
    ):
        assert ChronosJobSpec.model_validate(spec(task=task)).task.type == task["type"]


def test_checked_in_crd_is_generated_from_the_models() -> None:
    checked_in = (ROOT / "deploy" / "crd" / "chronosjobs.yaml").read_text()
    assert checked_in == render(), (
        "deploy/crd/chronosjobs.yaml is stale: run "
        "`python -m chronos.models.crd > deploy/crd/chronosjobs.yaml`"
    )


def _schema_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("properties", {}).values():
        found.extend(_schema_nodes(child))
    if "items" in node:
        found.extend(_schema_nodes(node["items"]))
    return found


def test_crd_schema_is_structural() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nodes = _schema_nodes(schema)
    assert len(nodes) > 40
    for node in nodes:
        assert "type" in node, node
        for forbidden in ("$ref", "anyOf", "additionalProperties", "uniqueItems", "title"):
            assert forbidden not in node, (forbidden, node)
        if "properties" in node:
            assert node["type"] == "object"


def test_sample_is_a_valid_spec() -> None:
    sample = yaml.safe_load((ROOT / "deploy" / "samples" / "chronosjob-sample.yaml").read_text())
    assert ChronosJobSpec.model_validate(sample["spec"]).task.entity_ids == [
        "entity-456",
        "entity-789",
    ]
