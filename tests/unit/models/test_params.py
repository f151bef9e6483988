"""Run-now parameters: what each task type allows, judged once (chronos.models.params)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chronos.models import params as p
from chronos.models.chronosjob import Task


def task(kind: str, **ids: list[str]) -> Task:
    return Task.model_validate({"type": kind, "pipelineId": "p1", **ids})


def params(**fields: object) -> p.RunParameters:
    return p.RunParameters.model_validate(fields)


def test_an_entity_subset_is_allowed_and_applied_in_the_order_given() -> None:
    job = task("entity_start", entityIds=["e1", "e2", "e3"])
    given = params(entityIds=["e3", "e1"], withSnapshot=True, snapshotWriteMethod="INSERT")
    assert p.problems(given, job) == []
    run = p.apply(job, given)
    assert run.entity_ids == ["e3", "e1"]
    assert (run.with_snapshot, run.snapshot_write_method.value) == (True, "INSERT")
    assert job.entity_ids == ["e1", "e2", "e3"]  # the spec's task is never changed


def test_ids_outside_the_job_are_named_by_index() -> None:
    job = task("entity_stop", entityIds=["e1", "e2"])
    assert p.problems(params(entityIds=["e1", "e9", "e2", "x"]), job) == [
        ("entityIds[1]", "'e9' is not one of the job's ids"),
        ("entityIds[3]", "'x' is not one of the job's ids"),
    ]


@pytest.mark.parametrize(
    ("kind", "ids", "given", "field"),
    [
        ("entity_start", {"entityIds": ["e1"]}, {"groupIds": ["g1"]}, "groupIds"),
        ("group_stop", {"groupIds": ["g1"]}, {"entityIds": ["e1"]}, "entityIds"),
        ("pipeline_start", {}, {"entityIds": ["e1"]}, "entityIds"),
        ("entity_stop", {"entityIds": ["e1"]}, {"withSnapshot": True}, "withSnapshot"),
        (
            "group_stop",
            {"groupIds": ["g1"]},
            {"snapshotWriteMethod": "INSERT"},
            "snapshotWriteMethod",
        ),
        ("entity_snapshot", {"entityIds": ["e1"]}, {"withSnapshot": False}, "withSnapshot"),
        ("pipeline_redo", {}, {"withSnapshot": True}, "withSnapshot"),
    ],
)
def test_what_the_task_type_does_not_take_is_refused(
    kind: str, ids: dict[str, list[str]], given: dict[str, object], field: str
) -> None:
    assert p.problems(params(**given), task(kind, **ids)) == [
        (field, f"{kind} tasks do not take this parameter")
    ]


@pytest.mark.parametrize(
    ("kind", "ids", "given"),
    [
        ("group_snapshot", {"groupIds": ["g1", "g2"]}, {"groupIds": ["g2"]}),
        ("pipeline_snapshot", {}, {"snapshotWriteMethod": "INSERT"}),
        ("entity_redo", {"entityIds": ["e1"]}, {"snapshotWriteMethod": "UPSERT"}),
        ("pipeline_stop", {}, {"asOf": "2026-03-01T09:00:00+01:00"}),
    ],
)
def test_what_the_task_type_takes_is_accepted(
    kind: str, ids: dict[str, list[str]], given: dict[str, object]
) -> None:
    job = task(kind, **ids)
    assert p.problems(params(**given), job) == []
    assert p.apply(job, params(**given)).type == job.type


@pytest.mark.parametrize(
    "given",
    [
        {"entityIds": []},
        {"entityIds": ["e1", "e1"]},
        {"entityIds": ["../x"]},
        {"asOf": "2026-03-01T09:00:00"},  # no offset: not an instant
        {"withSnapshot": "yes"},
        {"snapshotWriteMethod": "MERGE"},
        {"somethingElse": 1},
    ],
)
def test_the_model_refuses_malformed_parameters(given: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        params(**given)


def test_the_digest_tells_parameters_apart_and_ignores_key_order() -> None:
    assert p.digest({"a": 1, "b": [2]}) == p.digest({"b": [2], "a": 1})
    assert p.digest(None) == p.digest({})
    assert p.digest({"entityIds": ["e1"]}) != p.digest({"entityIds": ["e2"]})
    text = p.dumps(params(entityIds=["e1"], asOf="2026-03-01T09:00:00Z"))
    assert text == '{"entityIds":["e1"],"asOf":"2026-03-01T09:00:00Z"}'


def test_a_container_task_takes_only_as_of() -> None:
    """Its type has no action part (``container``): as_of only, no crash (a run-now
    with parameters of a container job was a 500)."""
    job = Task.model_validate({"type": "container", "container": {"image": "busybox:1"}})
    assert p.allowed(job) == {"as_of"}
    assert p.problems(params(asOf="2026-01-01T00:00:00Z"), job) == []
    assert p.problems(params(withSnapshot=True), job) == [
        ("withSnapshot", "container tasks do not take this parameter")
    ]
