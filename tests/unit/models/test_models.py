"""The ChronosJob models, their cross-field rules, and the generated CRD."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from builders import spec
from cases import BAD_SPECS, GOOD_SPECS
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from support import ROOT, error_fields, schema_nodes

from chronos.models import ChronosJobSpec
from chronos.models.chronosjob import ChronosJobStatus, RunRecord, Schedule
from chronos.models.crd import build_crd, render
from chronos.models.rules import COREHUB_ID


@pytest.mark.parametrize(("case", "body", "field"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_rejected_naming_the_field(case: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(body)
    # The field itself, or an item of it (schedule.daysOfWeek.0). Not a search of the
    # message text: pydantic's message quotes the whole input, so every field name of
    # the body would be "in" it whatever the error was about.
    named = error_fields(info.value)
    assert any(path == field or path.startswith(field + ".") for path in named), (case, named)


def test_error_fields_tells_the_fields_apart() -> None:
    """The check above can fail: an error about task.type does not name task.entityIds."""
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(spec(task={"type": "nope", "pipelineId": "p"}))
    assert error_fields(info.value) == ["task.type"]


@pytest.mark.parametrize(("case", "body"), GOOD_SPECS, ids=[c[0] for c in GOOD_SPECS])
def test_good_spec_near_a_rule_is_accepted(case: str, body: dict[str, Any]) -> None:
    ChronosJobSpec.model_validate(body)


@pytest.mark.parametrize(
    ("cron", "accepted"),
    [
        ("@every 1m", True),
        ("@every 60s", True),
        ("@every 60000ms", True),
        ("@every 1m0.5s", True),
        ("@every .5h", True),
        ("@every +2m", True),
        ("@every 2562047h", True),
        ("@every 59s", False),
        ("@every 59.999999999s", False),
        ("@every 0", False),
        ("@every -1h", False),
        ("@every 1µs", False),
        ("@every 5m ", False),
        ("@every 5m\n", False),
        ("@every  5m", False),
        ("@every 1d", False),
        ("@every 9999999999999h", False),
    ],
)
def test_every_floor(cron: str, accepted: bool) -> None:
    if accepted:
        assert Schedule.model_validate({"cron": cron}).cron == cron
    else:
        with pytest.raises(ValidationError, match="@every needs a positive duration"):
            Schedule.model_validate({"cron": cron})


def test_control_character_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(spec(displayName="a\x00"))
    (error,) = info.value.errors()
    assert error["loc"] == ("displayName",)
    assert "control characters" in error["msg"]


@given(
    hostile=st.text(min_size=1, max_size=40).filter(lambda v: not COREHUB_ID.matches(v)),
    where=st.sampled_from(["pipelineId", "entityIds", "groupIds"]),
)
def test_an_id_outside_corehubs_characters_is_refused_naming_the_field(
    hostile: str, where: str
) -> None:
    task: dict[str, Any] = {"type": "pipeline_start", "pipelineId": "p"}
    if where == "pipelineId":
        task["pipelineId"] = hostile
    else:
        task["type"] = "entity_stop" if where == "entityIds" else "group_stop"
        task[where] = ["ok", hostile]
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(spec(task=task))
    (error,) = info.value.errors()
    assert error["loc"][:2] == ("task", where)
    assert error["msg"] == COREHUB_ID.message


@given(st.from_regex(COREHUB_ID.regex, fullmatch=True).filter(lambda v: len(v) <= 253))
def test_every_id_of_the_pattern_is_accepted(good: str) -> None:
    task = {"type": "entity_stop", "pipelineId": good, "entityIds": [good]}
    assert ChronosJobSpec.model_validate(spec(task=task)).task.pipeline_id == good


def test_duplicates_are_named_with_their_index() -> None:
    body = spec(task={"type": "group_start", "pipelineId": "p", "groupIds": ["a", "b", "a"]})
    with pytest.raises(ValidationError) as info:
        ChronosJobSpec.model_validate(body)
    (error,) = info.value.errors()
    assert error["loc"] == ("task", "groupIds")
    assert "duplicate value 'a' at index 2" in error["msg"]


def test_status_from_the_api_server_still_parses_under_strict_types() -> None:
    """Strictness is about numbers and booleans: times and enums arrive as JSON strings."""
    status = ChronosJobStatus.model_validate(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Reconciled",
                    "lastTransitionTime": "2026-11-23T10:00:00Z",
                }
            ],
            "lastScheduleTime": "2026-11-23T10:00:00Z",
            "history": [
                {
                    "runId": "j-1",
                    "trigger": "run-now",
                    "result": "failed",
                    "startTime": "2026-11-23T10:00:00+01:00",
                    "durationSeconds": 3,
                }
            ],
        }
    )
    assert status.history is not None
    assert status.history[0].start_time is not None
    assert status.history[0].start_time.utcoffset() is not None
    assert status.history[0].duration_seconds == 3
    with pytest.raises(ValidationError):
        RunRecord.model_validate({"runId": "j", "trigger": "schedule", "result": "x"})
    with pytest.raises(ValidationError):
        ChronosJobSpec.model_validate(spec(concurrencyPolicy="forbid"))


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


def test_crd_schema_is_structural() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nodes = schema_nodes(schema)
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
