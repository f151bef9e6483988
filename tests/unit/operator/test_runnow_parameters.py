"""Run-now requests with parameters: the annotations (chronos.runnow) and how the operator
judges them and hands them to the Job (chronos.operator.runnow)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from chronos import contract as c
from chronos import runnow as rn
from chronos.models.chronosjob import ChronosJobSpec, RunResult
from chronos.models.params import digest
from chronos.operator.cronjob import with_parameters
from chronos.operator.runnow import (
    INVALID_PARAMETERS,
    invalid_record,
    judge_parameters,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SUBSET = {"entityIds": ["e2"]}
SPEC = ChronosJobSpec.model_validate(
    {
        "task": {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]},
        "schedule": {"cron": "0 3 * * *"},
    }
)


def apply(current: dict[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    merged: dict[str, str | None] = {**current, **patch}
    return {k: v for k, v in merged.items() if v is not None}


def test_parameters_wait_with_their_token_and_shrink_to_a_digest_when_served() -> None:
    ann = apply({}, rn.request_patch(rn.parse({}, NOW), "k1", NOW, SUBSET))
    ann = apply(ann, rn.request_patch(rn.parse(ann, NOW), "k2", NOW))
    state = rn.parse(ann, NOW)
    assert rn.parameters_of(state, "k1") == SUBSET
    assert rn.parameters_of(state, "k2") is None
    # The pending list keeps the shape the admission policy counts.
    assert json.loads(ann[c.RUN_NOW_PENDING_ANNOTATION]).keys() == {"k1", "k2"}

    ann = apply(ann, rn.served_patch(state, ["k1", "k2"], NOW))
    state = rn.parse(ann, NOW)
    assert json.loads(ann[c.RUN_NOW_PARAMETERS_ANNOTATION]) == {"k1": digest(SUBSET)}
    assert rn.parameters_of(state, "k1") is None
    # The same key asked again: same parameters or not, told apart after serving too.
    assert rn.same_parameters(state, "k1", SUBSET)
    assert not rn.same_parameters(state, "k1", {"entityIds": ["e1"]})
    assert not rn.same_parameters(state, "k1", None)
    assert rn.same_parameters(state, "k2", None)
    assert not rn.same_parameters(state, "k2", SUBSET)


def test_parameters_of_tokens_no_longer_served_are_dropped() -> None:
    ann = apply({}, rn.request_patch(rn.parse({}, NOW), "k1", NOW, SUBSET))
    ann = apply(ann, rn.served_patch(rn.parse(ann, NOW), ["k1"], NOW))
    later = NOW.replace(day=3)  # past the window: k1 is pruned with its digest
    ann = apply(ann, rn.served_patch(rn.parse(ann, later), ["k9"], later))
    assert c.RUN_NOW_PARAMETERS_ANNOTATION not in ann


def test_the_hand_set_json_form_carries_a_token_and_parameters() -> None:
    hand = json.dumps({"token": "manual-1", "parameters": SUBSET}, separators=(",", ":"))
    state = rn.parse({c.RUN_NOW_ANNOTATION: hand}, NOW)
    assert (state.hand_token, state.hand_parameters) == ("manual-1", SUBSET)
    assert rn.unadopted(state, NOW) == "manual-1"
    ann = apply({c.RUN_NOW_ANNOTATION: hand}, rn.request_patch(state, "manual-1", NOW, SUBSET))
    state = rn.parse(ann, NOW)
    assert rn.unadopted(state, NOW) is None
    assert rn.parameters_of(state, "manual-1") == SUBSET


@pytest.mark.parametrize(
    "value",
    [
        '{"parameters":{},"token":"t"}',  # token first, as the admission policy reads it
        '{"token":"bad token"}',
        '{"token":"t","parameters":[1]}',
        '{"token":"t"',
        '{"token":"t","parameters":{"entityIds":["' + "e" * rn.HAND_SET_MAX_BYTES + '"]}}',
    ],
)
def test_a_malformed_hand_set_value_is_never_adopted(value: str) -> None:
    state = rn.parse({c.RUN_NOW_ANNOTATION: value}, NOW)
    assert state.hand_token is None
    assert rn.unadopted(state, NOW) is None


def test_the_operator_judges_parameters_against_the_stored_task() -> None:
    params, problem = judge_parameters(SUBSET, SPEC)
    assert problem is None
    assert params is not None
    assert params.entity_ids == ["e2"]
    assert judge_parameters(None, SPEC) == (None, None)
    _, problem = judge_parameters({"entityIds": ["e2", "e7"]}, SPEC)
    assert problem == "parameters.entityIds[1]: 'e7' is not one of the job's ids"
    _, problem = judge_parameters({"entityIds": "e2"}, SPEC)
    assert problem is not None
    assert problem.startswith("parameters.entityIds: ")
    params, problem = judge_parameters({"groupIds": ["g1"]}, SPEC)
    assert problem == "parameters.groupIds: entity_start tasks do not take this parameter"
    record = invalid_record("job-x", problem, NOW, params)
    assert (record.result, record.reason) == (RunResult.MISSED, INVALID_PARAMETERS)
    assert record.parameters == params


def test_the_job_gets_its_parameters_in_the_runners_environment() -> None:
    params, _ = judge_parameters({**SUBSET, "asOf": "2026-03-01T09:00:00Z"}, SPEC)
    manifest = {"spec": {"template": {"spec": {"containers": [{"name": "runner", "env": []}]}}}}
    built = with_parameters(manifest, params)
    env = built["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {
            "name": c.ENV_PARAMETERS,
            "value": '{"entityIds":["e2"],"asOf":"2026-03-01T09:00:00Z"}',
        }
    ]
    assert with_parameters(manifest, None) is manifest
